//! Bundled real sample corpora and their dataset definitions: where the default pipeline's
//! data lives, with its domain labels and licenses.
