use super::*;

#[test]
fn scrub_hides_quoted_secrets_only() {
    let mut v = Violations::new();
    v.add(
        "policy_engine_mode",
        "invalid_choice",
        "\"hunter2\" is not a valid choice.",
    );
    v.add("name", "blank", "This field may not be blank.");
    let out = scrub(v, &["hunter2".into(), String::new()]);
    assert_eq!(
        out.to_string(),
        "policy_engine_mode: \"[REDACTED]\" is not a valid choice.; name: This field may not be blank."
    );
}

#[test]
fn later_violations_on_reported_fields_are_dropped() {
    let mut reported = Violations::single("name", "invalid", "Not a valid string.");
    reported.null("user_property_mappings[1]");
    let mut more = Violations::new();
    more.required("name");
    more.invalid_pk("user_property_mappings[0]", "x");
    more.required("plex_token");
    merge_unreported(&mut reported, more);
    let fields: Vec<_> = reported.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, ["name", "user_property_mappings[1]", "plex_token"]);
}
