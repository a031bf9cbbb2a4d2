use sigil::sops::format::*;
use sigil::sops::tree::{Entry, Value};
fn dump(v: &Value, d: usize, p: &str) {
    match v {
        Value::Map(e) => {
            for x in e {
                match x {
                    Entry::Pair(k, v) => dump(v, d + 2, &format!("{p}:{}", k.as_str())),
                    Entry::Comment(c) => println!("C {p} {:?}", c.as_str()),
                }
            }
        }
        Value::Seq(items) => {
            for i in items {
                dump(i, d + 2, p)
            }
        }
        Value::Comment(c) => println!("C {p} {:?}", c.as_str()),
        _ => {}
    }
}
fn main() {
    let f = match std::env::args().nth(2).as_deref() {
        Some("ini") => Format::Ini,
        Some("json") => Format::Json,
        _ => Format::Yaml,
    };
    let data = std::fs::read(std::env::args().nth(1).unwrap()).unwrap();
    let docs = load_plain(f, &data).unwrap();
    for d in &docs {
        dump(&Value::Map(d.iter().map(clone_entry).collect()), 0, "");
    }
    let out = emit_plain(
        f,
        &docs,
        &Layout {
            yaml_comment_quirks: false,
            ..Layout::default()
        },
    )
    .unwrap();
    println!("{}", String::from_utf8_lossy(&out));
    println!("=====");
    let again = load_plain(f, &out).unwrap();
    for d in &again {
        dump(&Value::Map(d.iter().map(clone_entry).collect()), 0, "");
    }
}
