//! Prints the word tokens of stdin, one per line (for comparing with other tokenizers).
use std::io::Read;

fn main() {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .expect("stdin is UTF-8");
    for w in filters::words::words(&s) {
        println!("{w}");
    }
}
