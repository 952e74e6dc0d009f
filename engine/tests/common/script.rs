//! Driving a scripting session from tests, as the REPL does.

use monologue::script::{Dynamic, Session};

/// A collecting session with the default model loaded as `m`.
pub fn session() -> Session {
    let mut s = Session::collecting().0;
    let path = super::smollm2();
    s.eval(&format!(
        "let m = load_model({:?});",
        path.to_str().unwrap()
    ))
    .unwrap();
    s
}

pub fn eval(s: &mut Session, code: &str) -> Dynamic {
    match s.eval(code) {
        Ok(o) => o.value,
        Err(e) => panic!("{code}: {e}"),
    }
}

/// Run an input whose value does not matter.
pub fn run(s: &mut Session, code: &str) {
    let _ = eval(s, code);
}

pub fn ints(d: Dynamic) -> Vec<i64> {
    d.into_array()
        .unwrap()
        .into_iter()
        .map(|x| x.as_int().unwrap())
        .collect()
}

pub fn floats(d: Dynamic) -> Vec<f64> {
    d.into_array()
        .unwrap()
        .into_iter()
        .map(|x| x.as_float().unwrap())
        .collect()
}
