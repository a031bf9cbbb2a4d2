//! The docker `config.json` reader (registry credentials): never panics on any input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sigil::image::docker_config::DockerConfig::parse(data);
});
