use serde_json::json;

use super::*;

/// The answer's keys are authentik's serializer's, in its order: an
/// attribute declared and not rendered (or rendered and not declared)
/// fails here.
#[test]
fn the_answer_has_every_attribute_in_order() {
    struct Keys(Vec<String>);
    impl<'de> serde::Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct InOrder;
            impl<'de> serde::de::Visitor<'de> for InOrder {
                type Value = Keys;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some(key) = map.next_key::<String>()? {
                        map.next_value::<serde::de::IgnoredAny>()?;
                        keys.push(key);
                    }
                    Ok(Keys(keys))
                }
            }
            d.deserialize_map(InOrder)
        }
    }
    let visible = Visible {
        source: std::sync::Arc::new(crate::domain::plex_source::example()),
        token: crate::ops::TokenVisibility::Hidden,
    };
    let text = serde_json::to_string(&source_json(&visible)).expect("JSON");
    let Keys(keys) = serde_json::from_str(&text).expect("keys");
    let declared: Vec<&str> = attributes::ATTRIBUTES.iter().map(|a| a.name).collect();
    assert_eq!(keys, declared);
}

/// Every attribute the API writes is read from a body into the draft.
#[test]
fn every_writable_attribute_is_read_from_a_body() {
    for attribute in attributes::writable() {
        let id = Uuid::new_v4().to_string();
        let value = match attribute.value {
            AttributeValue::Bool => serde_json::json!(true),
            AttributeValue::Ref => serde_json::json!(id),
            AttributeValue::RefList => serde_json::json!([id]),
            AttributeValue::TextList => serde_json::json!(["x"]),
            _ => serde_json::json!("x"),
        };
        let body = serde_json::json!({ attribute.name: value });
        let (draft, _) = draft(body).expect("a draft");
        let kept = draft.retain(|name| name == attribute.name);
        let set = format!("{kept:?}");
        assert!(
            set.contains("Set("),
            "{} is not read: {set}",
            attribute.name
        );
    }
}

#[test]
fn pagination_counts_as_django_does() {
    // (next, previous, total pages, start index, end index)
    let counts = |current, size, total| {
        Pagination::of(current, size, total).map(|p| {
            (
                p.next,
                p.previous,
                p.total_pages,
                p.start_index,
                p.end_index,
            )
        })
    };
    assert_eq!(counts(1, 100, 0), Some((0, 0, 1, 0, 0)));
    assert_eq!(counts(2, 2, 5), Some((3, 1, 3, 3, 4)));
    assert_eq!(counts(3, 2, 5), Some((0, 2, 3, 5, 5)));
    assert_eq!(counts(4, 2, 5), None);
    assert_eq!(counts(0, 2, 5), None);
    assert_eq!(counts(2, 100, 0), None);
}

#[test]
fn bodies_are_typed_as_drf_types_them() {
    let (d, v) = draft(json!({
        "name": 2024, "slug": "s", "enabled": "yes", "allow_friends": 0,
        "authentication_flow": null, "icon": "x", "pk": "y", "unknown": [1],
        "allowed_servers": ["a", 1.5], "policy_engine_mode": true,
    }))
    .unwrap();
    assert!(v.is_empty(), "{v}");
    assert_eq!(d.name, Field::Set("2024".into()));
    assert_eq!(d.enabled, Field::Set(true));
    assert_eq!(d.allow_friends, Field::Set(false));
    assert_eq!(d.authentication_flow, Field::Null);
    assert_eq!(d.icon, Field::Missing);
    assert_eq!(
        d.allowed_servers,
        Field::Set(vec!["a".into(), "1.5".into()])
    );
    assert_eq!(d.policy_engine_mode, Field::Set("True".into()));
    assert_eq!(d.plex_token, Field::Missing);

    let (d, v) = draft(json!({
        "name": [], "enabled": "maybe", "enrollment_flow": "nope",
        "user_property_mappings": "x", "group_property_mappings": [true],
        "allowed_servers": [null, {}],
    }))
    .unwrap();
    assert_eq!(d.name, Field::Missing, "a refused value is left out");
    assert_eq!(
        v.field_messages(),
        // serde_json's map is ordered by key.
        [
            ("allowed_servers[0]", "This field may not be null."),
            ("allowed_servers[1]", "Not a valid string."),
            ("enabled", "Must be a valid boolean."),
            (
                "enrollment_flow",
                "\u{201c}nope\u{201d} is not a valid UUID."
            ),
            (
                "group_property_mappings[0]",
                "Incorrect type. Expected pk value, received bool."
            ),
            ("name", "Not a valid string."),
            (
                "user_property_mappings",
                "Expected a list of items but got type \"str\"."
            ),
        ]
    );
    for (body, message) in [
        (json!(null), "No data provided"),
        (
            json!([]),
            "Invalid data. Expected a dictionary, but got list.",
        ),
        (
            json!("x"),
            "Invalid data. Expected a dictionary, but got str.",
        ),
    ] {
        let v = draft(body).unwrap_err();
        let only = v.iter().next().unwrap();
        assert_eq!(
            (only.field.as_str(), only.message.as_str()),
            ("non_field_errors", message)
        );
    }
}
