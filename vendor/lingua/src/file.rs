/*
 * Copyright © 2020-present Peter M. Stahl pemistahl@gmail.com
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *
 * http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either expressed or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */

//! sluice: the model and test-data files come zstd-compressed from the table build.rs writes
//! (`OUT_DIR/models.rs`) and are decompressed here, once per file, when a detector loads them.

use crate::Language;
use crate::detector::{CountModelFst, LanguageModelFst};
use std::borrow::Cow;
use std::io::ErrorKind;

include!(concat!(env!("OUT_DIR"), "/models.rs"));

pub(crate) fn read_probability_model_data_file(
    language: Language,
    file_name: &str,
) -> std::io::Result<LanguageModelFst> {
    let bytes = decompress(compressed_model(language, file_name))?;
    let fst_map = fst::Map::new(Cow::Owned(bytes)).unwrap();
    Ok(fst_map)
}

pub(crate) fn read_count_model_data_file(
    language: Language,
    file_name: &str,
) -> std::io::Result<CountModelFst> {
    let bytes = decompress(compressed_model(language, file_name))?;
    let fst_set = fst::Set::new(Cow::Owned(bytes)).unwrap();
    Ok(fst_set)
}

pub(crate) fn read_test_data_file(language: Language, file_name: &str) -> std::io::Result<String> {
    let bytes = decompress(compressed_test_data(language, file_name))?;
    String::from_utf8(bytes).map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e))
}

fn decompress(file: Option<(&'static [u8], usize)>) -> std::io::Result<Vec<u8>> {
    let (compressed, size) = file.ok_or(ErrorKind::NotFound)?;
    zstd::bulk::decompress(compressed, size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NGRAM_PROBABILITY_MODEL_FILE_NAME, NgramCountModelType};

    #[test]
    fn test_read_probability_model_data_file() {
        let result =
            read_probability_model_data_file(Language::English, NGRAM_PROBABILITY_MODEL_FILE_NAME);
        assert!(result.is_ok());

        let fst_map = result.unwrap();
        assert!(fst_map.contains_key(b"that".to_vec()));
    }

    #[test]
    fn test_read_count_model_data_file() {
        let result = read_count_model_data_file(
            Language::English,
            &NgramCountModelType::MostCommon.file_name(),
        );
        assert!(result.is_ok());
    }
}
