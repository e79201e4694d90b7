// `cfg(speed)`: the builds made for speed (native, and Node's wasm with feature `unicode-case`),
// where shortcuts that would cost the size-optimized Workers/browser wasm its budget are compiled.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(speed)");
    let wasm = std::env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|a| a == "wasm32");
    if !wasm || std::env::var_os("CARGO_FEATURE_UNICODE_CASE").is_some() {
        println!("cargo::rustc-cfg=speed");
    }
}
