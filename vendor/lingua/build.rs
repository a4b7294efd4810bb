//! sluice addition (SLUICE.md): compresses the enabled languages' model and test-data files
//! from the `lingua-*-language-model` crates with zstd into `OUT_DIR`, and writes
//! `OUT_DIR/models.rs`, the table `src/file.rs` reads them from. The published crate embeds
//! the files uncompressed (288 MB for all 75 languages, most of sluice's binary); compressed
//! they take about 140 MB and are decompressed once per language, when a detector first
//! loads it.

use include_dir::Dir;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// zstd level: 9 compresses the 288 MB in about 11 s on one core (level 19: 8% smaller, 20x
/// slower; level 3: 11% larger).
const LEVEL: i32 = 9;

/// One file to compress: the language's `Language` variant, the file's name, its contents.
struct Entry {
    language: &'static str,
    kind: Kind,
    name: String,
    contents: &'static [u8],
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Model,
    TestData,
}

macro_rules! languages {
    ($($feature:literal $variant:ident $krate:ident $models:ident $testdata:ident;)*) => {
        /// The (variant, models, test data) directories of every language enabled by a feature.
        fn enabled() -> Vec<(&'static str, Dir<'static>, Dir<'static>)> {
            #[allow(unused_mut)]
            let mut enabled = Vec::new();
            $(
                #[cfg(feature = $feature)]
                enabled.push((stringify!($variant), $krate::$models, $krate::$testdata));
            )*
            enabled
        }
    };
}

languages! {
    "afrikaans" Afrikaans lingua_afrikaans_language_model AFRIKAANS_MODELS_DIRECTORY AFRIKAANS_TESTDATA_DIRECTORY;
    "albanian" Albanian lingua_albanian_language_model ALBANIAN_MODELS_DIRECTORY ALBANIAN_TESTDATA_DIRECTORY;
    "arabic" Arabic lingua_arabic_language_model ARABIC_MODELS_DIRECTORY ARABIC_TESTDATA_DIRECTORY;
    "armenian" Armenian lingua_armenian_language_model ARMENIAN_MODELS_DIRECTORY ARMENIAN_TESTDATA_DIRECTORY;
    "azerbaijani" Azerbaijani lingua_azerbaijani_language_model AZERBAIJANI_MODELS_DIRECTORY AZERBAIJANI_TESTDATA_DIRECTORY;
    "basque" Basque lingua_basque_language_model BASQUE_MODELS_DIRECTORY BASQUE_TESTDATA_DIRECTORY;
    "belarusian" Belarusian lingua_belarusian_language_model BELARUSIAN_MODELS_DIRECTORY BELARUSIAN_TESTDATA_DIRECTORY;
    "bengali" Bengali lingua_bengali_language_model BENGALI_MODELS_DIRECTORY BENGALI_TESTDATA_DIRECTORY;
    "bokmal" Bokmal lingua_bokmal_language_model BOKMAL_MODELS_DIRECTORY BOKMAL_TESTDATA_DIRECTORY;
    "bosnian" Bosnian lingua_bosnian_language_model BOSNIAN_MODELS_DIRECTORY BOSNIAN_TESTDATA_DIRECTORY;
    "bulgarian" Bulgarian lingua_bulgarian_language_model BULGARIAN_MODELS_DIRECTORY BULGARIAN_TESTDATA_DIRECTORY;
    "catalan" Catalan lingua_catalan_language_model CATALAN_MODELS_DIRECTORY CATALAN_TESTDATA_DIRECTORY;
    "chinese" Chinese lingua_chinese_language_model CHINESE_MODELS_DIRECTORY CHINESE_TESTDATA_DIRECTORY;
    "croatian" Croatian lingua_croatian_language_model CROATIAN_MODELS_DIRECTORY CROATIAN_TESTDATA_DIRECTORY;
    "czech" Czech lingua_czech_language_model CZECH_MODELS_DIRECTORY CZECH_TESTDATA_DIRECTORY;
    "danish" Danish lingua_danish_language_model DANISH_MODELS_DIRECTORY DANISH_TESTDATA_DIRECTORY;
    "dutch" Dutch lingua_dutch_language_model DUTCH_MODELS_DIRECTORY DUTCH_TESTDATA_DIRECTORY;
    "english" English lingua_english_language_model ENGLISH_MODELS_DIRECTORY ENGLISH_TESTDATA_DIRECTORY;
    "esperanto" Esperanto lingua_esperanto_language_model ESPERANTO_MODELS_DIRECTORY ESPERANTO_TESTDATA_DIRECTORY;
    "estonian" Estonian lingua_estonian_language_model ESTONIAN_MODELS_DIRECTORY ESTONIAN_TESTDATA_DIRECTORY;
    "finnish" Finnish lingua_finnish_language_model FINNISH_MODELS_DIRECTORY FINNISH_TESTDATA_DIRECTORY;
    "french" French lingua_french_language_model FRENCH_MODELS_DIRECTORY FRENCH_TESTDATA_DIRECTORY;
    "ganda" Ganda lingua_ganda_language_model GANDA_MODELS_DIRECTORY GANDA_TESTDATA_DIRECTORY;
    "georgian" Georgian lingua_georgian_language_model GEORGIAN_MODELS_DIRECTORY GEORGIAN_TESTDATA_DIRECTORY;
    "german" German lingua_german_language_model GERMAN_MODELS_DIRECTORY GERMAN_TESTDATA_DIRECTORY;
    "greek" Greek lingua_greek_language_model GREEK_MODELS_DIRECTORY GREEK_TESTDATA_DIRECTORY;
    "gujarati" Gujarati lingua_gujarati_language_model GUJARATI_MODELS_DIRECTORY GUJARATI_TESTDATA_DIRECTORY;
    "hebrew" Hebrew lingua_hebrew_language_model HEBREW_MODELS_DIRECTORY HEBREW_TESTDATA_DIRECTORY;
    "hindi" Hindi lingua_hindi_language_model HINDI_MODELS_DIRECTORY HINDI_TESTDATA_DIRECTORY;
    "hungarian" Hungarian lingua_hungarian_language_model HUNGARIAN_MODELS_DIRECTORY HUNGARIAN_TESTDATA_DIRECTORY;
    "icelandic" Icelandic lingua_icelandic_language_model ICELANDIC_MODELS_DIRECTORY ICELANDIC_TESTDATA_DIRECTORY;
    "indonesian" Indonesian lingua_indonesian_language_model INDONESIAN_MODELS_DIRECTORY INDONESIAN_TESTDATA_DIRECTORY;
    "irish" Irish lingua_irish_language_model IRISH_MODELS_DIRECTORY IRISH_TESTDATA_DIRECTORY;
    "italian" Italian lingua_italian_language_model ITALIAN_MODELS_DIRECTORY ITALIAN_TESTDATA_DIRECTORY;
    "japanese" Japanese lingua_japanese_language_model JAPANESE_MODELS_DIRECTORY JAPANESE_TESTDATA_DIRECTORY;
    "kazakh" Kazakh lingua_kazakh_language_model KAZAKH_MODELS_DIRECTORY KAZAKH_TESTDATA_DIRECTORY;
    "korean" Korean lingua_korean_language_model KOREAN_MODELS_DIRECTORY KOREAN_TESTDATA_DIRECTORY;
    "latin" Latin lingua_latin_language_model LATIN_MODELS_DIRECTORY LATIN_TESTDATA_DIRECTORY;
    "latvian" Latvian lingua_latvian_language_model LATVIAN_MODELS_DIRECTORY LATVIAN_TESTDATA_DIRECTORY;
    "lithuanian" Lithuanian lingua_lithuanian_language_model LITHUANIAN_MODELS_DIRECTORY LITHUANIAN_TESTDATA_DIRECTORY;
    "macedonian" Macedonian lingua_macedonian_language_model MACEDONIAN_MODELS_DIRECTORY MACEDONIAN_TESTDATA_DIRECTORY;
    "malay" Malay lingua_malay_language_model MALAY_MODELS_DIRECTORY MALAY_TESTDATA_DIRECTORY;
    "maori" Maori lingua_maori_language_model MAORI_MODELS_DIRECTORY MAORI_TESTDATA_DIRECTORY;
    "marathi" Marathi lingua_marathi_language_model MARATHI_MODELS_DIRECTORY MARATHI_TESTDATA_DIRECTORY;
    "mongolian" Mongolian lingua_mongolian_language_model MONGOLIAN_MODELS_DIRECTORY MONGOLIAN_TESTDATA_DIRECTORY;
    "nynorsk" Nynorsk lingua_nynorsk_language_model NYNORSK_MODELS_DIRECTORY NYNORSK_TESTDATA_DIRECTORY;
    "persian" Persian lingua_persian_language_model PERSIAN_MODELS_DIRECTORY PERSIAN_TESTDATA_DIRECTORY;
    "polish" Polish lingua_polish_language_model POLISH_MODELS_DIRECTORY POLISH_TESTDATA_DIRECTORY;
    "portuguese" Portuguese lingua_portuguese_language_model PORTUGUESE_MODELS_DIRECTORY PORTUGUESE_TESTDATA_DIRECTORY;
    "punjabi" Punjabi lingua_punjabi_language_model PUNJABI_MODELS_DIRECTORY PUNJABI_TESTDATA_DIRECTORY;
    "romanian" Romanian lingua_romanian_language_model ROMANIAN_MODELS_DIRECTORY ROMANIAN_TESTDATA_DIRECTORY;
    "russian" Russian lingua_russian_language_model RUSSIAN_MODELS_DIRECTORY RUSSIAN_TESTDATA_DIRECTORY;
    "serbian" Serbian lingua_serbian_language_model SERBIAN_MODELS_DIRECTORY SERBIAN_TESTDATA_DIRECTORY;
    "shona" Shona lingua_shona_language_model SHONA_MODELS_DIRECTORY SHONA_TESTDATA_DIRECTORY;
    "slovak" Slovak lingua_slovak_language_model SLOVAK_MODELS_DIRECTORY SLOVAK_TESTDATA_DIRECTORY;
    "slovene" Slovene lingua_slovene_language_model SLOVENE_MODELS_DIRECTORY SLOVENE_TESTDATA_DIRECTORY;
    "somali" Somali lingua_somali_language_model SOMALI_MODELS_DIRECTORY SOMALI_TESTDATA_DIRECTORY;
    "sotho" Sotho lingua_sotho_language_model SOTHO_MODELS_DIRECTORY SOTHO_TESTDATA_DIRECTORY;
    "spanish" Spanish lingua_spanish_language_model SPANISH_MODELS_DIRECTORY SPANISH_TESTDATA_DIRECTORY;
    "swahili" Swahili lingua_swahili_language_model SWAHILI_MODELS_DIRECTORY SWAHILI_TESTDATA_DIRECTORY;
    "swedish" Swedish lingua_swedish_language_model SWEDISH_MODELS_DIRECTORY SWEDISH_TESTDATA_DIRECTORY;
    "tagalog" Tagalog lingua_tagalog_language_model TAGALOG_MODELS_DIRECTORY TAGALOG_TESTDATA_DIRECTORY;
    "tamil" Tamil lingua_tamil_language_model TAMIL_MODELS_DIRECTORY TAMIL_TESTDATA_DIRECTORY;
    "telugu" Telugu lingua_telugu_language_model TELUGU_MODELS_DIRECTORY TELUGU_TESTDATA_DIRECTORY;
    "thai" Thai lingua_thai_language_model THAI_MODELS_DIRECTORY THAI_TESTDATA_DIRECTORY;
    "tsonga" Tsonga lingua_tsonga_language_model TSONGA_MODELS_DIRECTORY TSONGA_TESTDATA_DIRECTORY;
    "tswana" Tswana lingua_tswana_language_model TSWANA_MODELS_DIRECTORY TSWANA_TESTDATA_DIRECTORY;
    "turkish" Turkish lingua_turkish_language_model TURKISH_MODELS_DIRECTORY TURKISH_TESTDATA_DIRECTORY;
    "ukrainian" Ukrainian lingua_ukrainian_language_model UKRAINIAN_MODELS_DIRECTORY UKRAINIAN_TESTDATA_DIRECTORY;
    "urdu" Urdu lingua_urdu_language_model URDU_MODELS_DIRECTORY URDU_TESTDATA_DIRECTORY;
    "vietnamese" Vietnamese lingua_vietnamese_language_model VIETNAMESE_MODELS_DIRECTORY VIETNAMESE_TESTDATA_DIRECTORY;
    "welsh" Welsh lingua_welsh_language_model WELSH_MODELS_DIRECTORY WELSH_TESTDATA_DIRECTORY;
    "xhosa" Xhosa lingua_xhosa_language_model XHOSA_MODELS_DIRECTORY XHOSA_TESTDATA_DIRECTORY;
    "yoruba" Yoruba lingua_yoruba_language_model YORUBA_MODELS_DIRECTORY YORUBA_TESTDATA_DIRECTORY;
    "zulu" Zulu lingua_zulu_language_model ZULU_MODELS_DIRECTORY ZULU_TESTDATA_DIRECTORY;
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let entries = entries();
    compress_all(&entries, &out);
    std::fs::write(out.join("models.rs"), table(&entries, &out)).expect("write models.rs");
}

fn entries() -> Vec<Entry> {
    let mut entries = Vec::new();
    for (language, models, testdata) in enabled() {
        for (kind, dir) in [(Kind::Model, models), (Kind::TestData, testdata)] {
            for file in dir.files() {
                let name = file.path().file_name().expect("a file name");
                entries.push(Entry {
                    language,
                    kind,
                    name: name.to_str().expect("UTF-8 file name").to_string(),
                    contents: file.contents(),
                });
            }
        }
    }
    entries
}

fn compressed_path(out: &Path, entry: &Entry) -> PathBuf {
    out.join(format!("{}-{}.zst", entry.language, entry.name))
}

/// Compresses every entry, on as many threads as cargo gives this build script.
fn compress_all(entries: &[Entry], out: &Path) {
    let jobs = std::env::var("NUM_JOBS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1usize);
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(entry) = entries.get(i) else { break };
                    let packed = zstd::bulk::compress(entry.contents, LEVEL).expect("zstd");
                    std::fs::write(compressed_path(out, entry), packed).expect("write model");
                }
            });
        }
    });
}

/// `compressed_model` and `compressed_test_data`: (language, file name) -> (zstd bytes, size).
fn table(entries: &[Entry], out: &Path) -> String {
    let mut code = String::from("// Generated by build.rs: the zstd-compressed model files.\n");
    for (function, kind) in [
        ("compressed_model", Kind::Model),
        ("compressed_test_data", Kind::TestData),
    ] {
        writeln!(code, "#[allow(dead_code)]\npub(crate) fn {function}(language: Language, file_name: &str) -> Option<(&'static [u8], usize)> {{").unwrap();
        writeln!(code, "    match (language, file_name) {{").unwrap();
        for entry in entries.iter().filter(|e| e.kind == kind) {
            let path = compressed_path(out, entry);
            writeln!(
                code,
                "        (Language::{}, {:?}) => Some((include_bytes!({:?}), {})),",
                entry.language,
                entry.name,
                path,
                entry.contents.len()
            )
            .unwrap();
        }
        writeln!(code, "        _ => None,\n    }}\n}}").unwrap();
    }
    code
}
