//! Feeds arbitrary input to the manifest reader: the literal parser, the typed manifest on top of it and
//! version normalisation. A manifest comes from addon source that Ringfence did not write, so any input
//! must end in a value or an error with a position, never a panic, an overflow or unbounded recursion.
//! Nothing here executes anything: the parser only reads text.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use ringfence_odoo::{Manifest, Series, parse_literal};

fuzz_target!(|data: &[u8]| {
    // Manifests are read as UTF-8 (Manifest::read refuses anything else before parsing), so only UTF-8
    // input reaches the parser; the fuzzer's byte mutations still explore it.
    let Ok(src) = std::str::from_utf8(data) else { return };
    let file = Path::new("fuzz/__manifest__.py");
    let literal = parse_literal(src, file);
    // The typed reader parses again; both paths must agree on whether the text is a literal at all.
    match Manifest::parse(src, file) {
        Ok(manifest) => {
            assert!(literal.is_ok(), "typed reader accepted what the literal parser refused");
            for series in [Series { major: 17, minor: 0 }, Series { major: 8, minor: 0 }] {
                // Errors are fine; a panic is not. The error text is formatted because positions and
                // messages are built lazily there.
                if let Err(e) = manifest.version(series) {
                    let _ = e.to_string();
                }
            }
            let _ = manifest.auto_install.triggers(&manifest.depends);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
