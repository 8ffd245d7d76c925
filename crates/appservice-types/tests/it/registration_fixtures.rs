//! `fixtures/registration/*.{yaml,json}`: each registration file beside a `.expect.json` with
//! the diagnostics `Registration::check` must report (severity, code, path) and whether
//! `ValidatedRegistration` accepts it. Adding a case needs no Rust.

use appservice_types::{CheckOptions, Registration, ValidatedRegistration};
use serde_json::{Value, json};

use crate::fixtures::{bless, canonical, check_metadata, list, read_json};

fn observe(input: &str, options: &CheckOptions) -> (bool, Vec<Value>) {
    let diagnostics = match Registration::parse(input) {
        Err(e) => e.into_diagnostics(),
        Ok(r) => r.check(options),
    };
    let valid = ValidatedRegistration::parse(input).is_ok()
        && (options.server_name.is_none()
            || Registration::parse(input)
                .is_ok_and(|r| ValidatedRegistration::new(r, options).is_ok()));
    let mut out: Vec<Value> = diagnostics
        .iter()
        .map(|d| json!({"severity": d.severity.as_str(), "code": d.code.as_str(), "path": d.path}))
        .collect();
    out.sort_by_key(|v| v.to_string());
    (valid, out)
}

#[test]
fn registration_fixtures() {
    let mut checked = 0;
    for expect_path in list("registration", ".expect.json") {
        let stem = expect_path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .trim_end_matches(".expect.json")
            .to_owned();
        let dir = expect_path.parent().unwrap();
        let input_path = ["yaml", "json"]
            .iter()
            .map(|ext| dir.join(format!("{stem}.{ext}")))
            .find(|p| p.exists())
            .unwrap_or_else(|| {
                panic!("{stem}.expect.json has no {stem}.yaml or {stem}.json beside it")
            });
        let mut expect = read_json(&expect_path);
        check_metadata(&expect_path, &expect);
        let input = std::fs::read_to_string(&input_path).unwrap();
        let mut options = CheckOptions::new();
        if let Some(server) = expect["server_name"].as_str() {
            options = options.server_name(server);
        }
        if let Some(profiles) = expect["homeserver_profiles"].as_array() {
            options = options
                .homeserver_profiles(profiles.iter().map(|p| p.as_str().unwrap().parse().unwrap()));
        }
        let (valid, diagnostics) = observe(&input, &options);
        if bless() {
            expect["valid"] = json!(valid);
            expect["diagnostics"] = json!(diagnostics);
            std::fs::write(&expect_path, canonical(&expect)).unwrap();
        } else {
            assert_eq!(
                diagnostics,
                expect["diagnostics"].as_array().cloned().unwrap_or_default(),
                "{stem}: diagnostics differ (UPDATE_EXPECT=1 rewrites them; review the diff)"
            );
            assert_eq!(Some(valid), expect["valid"].as_bool(), "{stem}: validity differs");
        }
        // The id prefix is a claim too: ok- has no diagnostics, warn- only warnings, err- errors.
        let has_error = diagnostics.iter().any(|d| d["severity"] == "error");
        match stem.split('-').next() {
            Some("ok") => assert!(
                diagnostics.is_empty(),
                "{stem}: an ok- case must be clean: {diagnostics:?}"
            ),
            Some("warn") => assert!(
                valid && !diagnostics.is_empty(),
                "{stem}: a warn- case is valid with warnings"
            ),
            Some("err") => assert!(!valid && has_error, "{stem}: an err- case must be invalid"),
            _ => unreachable!(),
        }
        // A valid registration survives serialize → parse unchanged, in both formats.
        if let Ok(r) = Registration::parse(&input) {
            assert_eq!(
                Registration::parse(&r.to_yaml().unwrap()).unwrap(),
                r,
                "{stem}: YAML round trip"
            );
            assert_eq!(Registration::parse(&r.to_json()).unwrap(), r, "{stem}: JSON round trip");
        }
        // No diagnostic ever echoes a token.
        if let Ok(r) = Registration::parse(&input) {
            for token in
                [r.as_token.expose(), r.hs_token.expose()].into_iter().filter(|t| t.len() >= 8)
            {
                let rendered: String = r.check(&options).iter().map(ToString::to_string).collect();
                assert!(!rendered.contains(token), "{stem}: a diagnostic shows a token");
            }
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} registration fixtures");
}

#[test]
fn every_registration_file_has_an_expectation() {
    for ext in [".yaml", ".json"] {
        for path in list("registration", ext) {
            let name = path.file_name().unwrap().to_str().unwrap();
            if name.ends_with(".expect.json") {
                continue;
            }
            let stem = name.trim_end_matches(ext);
            assert!(
                path.with_file_name(format!("{stem}.expect.json")).exists(),
                "{name} has no {stem}.expect.json"
            );
        }
    }
}
