//! The mini VM: `cargo run --release --example minivm -- [--no-jit] [--threshold N] FILE...`
//!
//! Runs each program and prints its output, then what the specializing tier did.

#[path = "mod.rs"]
mod minivm;

use minivm::vm::{Options, run};

fn main() {
    let mut options = Options::default();
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--no-jit" => options.jit = false,
            "--threshold" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) => options.threshold = n,
                None => fail("--threshold needs a number"),
            },
            _ if arg.starts_with("--") => fail(&format!("unknown option {arg}")),
            _ => files.push(arg),
        }
    }
    if files.is_empty() {
        fail("usage: minivm [--no-jit] [--threshold N] FILE...");
    }
    for file in files {
        let src = std::fs::read_to_string(&file).unwrap_or_else(|e| fail(&format!("{file}: {e}")));
        println!("== {file}");
        match run(&src, options) {
            Ok(r) => {
                print!("{}", r.output);
                let s = r.summary;
                if options.jit {
                    println!(
                        "-- jit: {} compiled units ({} globals folded, {} calls inlined), {} invalidations, {} patches, {} deopts mid-frame, {} quiet events of {}",
                        s.jit.compiled,
                        s.jit.folded,
                        s.jit.inlined,
                        s.jit.invalidated,
                        s.jit.patched,
                        s.jit.deopts,
                        s.quiet,
                        s.events
                    );
                } else {
                    println!("-- jit: off");
                }
            }
            Err(e) => fail(&format!("{file}: {e}")),
        }
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("minivm: {msg}");
    std::process::exit(2)
}
