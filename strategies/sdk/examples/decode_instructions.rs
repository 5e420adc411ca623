//! Decodes the first 2,000 depth20 messages of the bundled recording `20 + N` times (`N` = the first argument).
//! Run under `valgrind --tool=callgrind` with N = 0 and N = 5: the difference of the two instruction totals divided
//! by 10,000 is the instruction count of one depth20 decode, a figure that does not depend on what else the machine
//! is doing (see BENCHMARKS.md).
#![allow(missing_docs)]

use strategy_sdk::decode::Decoder;

fn main() {
    let reps: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let lines = strategy_sdk::testing::bundled_recording();
    let messages: Vec<&[u8]> = lines
        .iter()
        .filter(|l| l.contains("@depth20"))
        .take(2000)
        .map(|l| l.as_bytes())
        .collect();
    let mut decoder = Decoder::default();
    let mut decoded = 0usize;
    for _ in 0..20 + reps {
        for m in &messages {
            decoded += usize::from(decoder.decode(m).is_ok());
        }
    }
    println!("{decoded} depth20 messages decoded");
}
