//! The checks of a vector: its metadata, and each recorded request against its expectation.

use serde_json::Value;

use crate::mock::{AS_TOKEN, Recorded};

/// `Err` naming `ctx` and both values when they differ.
pub(crate) fn equal(ctx: &str, got: &Value, want: &Value) -> Result<(), String> {
    if got == want { Ok(()) } else { Err(format!("{ctx}: got {got}, expected {want}")) }
}

/// The fixture's `id`, name prefix, checklist IDs, `spec` and `description`.
pub(crate) fn metadata(name: &str, v: &Value) -> Result<(), String> {
    let id = v["id"].as_str().ok_or_else(|| format!("{name}: missing `id`"))?;
    if format!("{id}.json") != name {
        return Err(format!("{name}: `id` must be the file stem"));
    }
    let ok = v["expect_outcome"].get("ok").is_some();
    if !((id.starts_with("ok-") && ok) || (id.starts_with("err-") && !ok)) {
        return Err(format!(
            "{name}: ok- fixtures expect {{\"ok\": …}}, err- fixtures {{\"err\": …}}"
        ));
    }
    let checklist = v["checklist"].as_array().ok_or_else(|| format!("{name}: `checklist`"))?;
    if checklist.is_empty() {
        return Err(format!("{name}: `checklist` is empty"));
    }
    for item in checklist {
        let item = item.as_str().unwrap_or_default();
        let well_formed = item.contains('-')
            && item.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-');
        if !well_formed {
            return Err(format!("{name}: {item:?} is not a checklist ID"));
        }
    }
    if !v["spec"].as_str().is_some_and(|s| s.starts_with("https://spec.matrix.org/v1.19/")) {
        return Err(format!("{name}: `spec` must link the v1.19 spec"));
    }
    if v["description"].as_str().is_none_or(str::is_empty) {
        return Err(format!("{name}: `description` is missing"));
    }
    Ok(())
}

/// One recorded request against its expectation, and the invariants of every request.
pub(crate) fn request(ctx: &str, got: &Recorded, want: &Value) -> Result<(), String> {
    let text = |v: &Value| Value::from(v.as_str().unwrap_or_default());
    equal(&format!("{ctx}: method"), &Value::from(got.method.as_str()), &text(&want["method"]))?;
    equal(
        &format!("{ctx}: path (as sent)"),
        &Value::from(got.path.as_str()),
        &text(&want["path"]),
    )?;
    let query = serde_json::to_value(&got.query).map_err(|e| e.to_string())?;
    equal(&format!("{ctx}: query"), &query, &want["query"])?;
    if let Some(raw) = want.get("raw_query") {
        // The exact wire form, where a fixture pins the percent-encoding (IN-5).
        equal(&format!("{ctx}: raw query"), &got.raw_query.clone().into(), raw)?;
    }
    // Invariants of every request.
    let header = |name: &str| got.headers.get(name).and_then(|v| v.to_str().ok());
    if header("authorization") != Some(format!("Bearer {AS_TOKEN}").as_str()) {
        return Err(format!("{ctx}: the Authorization header is not the as_token"));
    }
    if got.query.contains_key("access_token") {
        return Err(format!("{ctx}: a token in the query"));
    }
    for (name, value) in want["headers_subset"].as_object().into_iter().flatten() {
        equal(&format!("{ctx}: header {name}"), &header(name).into(), value)?;
    }
    match (&want["body"], &want["body_text"]) {
        (Value::Null, Value::String(text)) => equal(
            &format!("{ctx}: body"),
            &String::from_utf8_lossy(&got.body).into(),
            &text.clone().into(),
        ),
        (Value::Null, Value::Null) if got.body.is_empty() => Ok(()),
        (Value::Null, Value::Null) => Err(format!("{ctx}: expected no body")),
        (body, _) => equal(&format!("{ctx}: body"), &got.json(), body),
    }
}
