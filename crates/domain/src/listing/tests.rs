use super::*;

#[test]
fn ordering_defaults_to_name_and_always_ends_with_pk() {
    let keys = parse_ordering("").unwrap();
    assert_eq!(
        keys.iter().map(|k| k.field).collect::<Vec<_>>(),
        [SortField::Name, SortField::Pk]
    );
    let keys = parse_ordering("-enabled, slug").unwrap();
    assert_eq!(
        keys[0],
        SortKey {
            field: SortField::Enabled,
            descending: true
        }
    );
    assert_eq!(keys[1].field, SortField::Slug);
    assert_eq!(keys[2].field, SortField::Pk);
}

#[test]
fn unknown_ordering_fields_are_named() {
    let err = parse_ordering("name,-colour,plex_token").unwrap_err();
    let v = err.iter().next().unwrap();
    assert_eq!(v.field, "ordering");
    assert!(v.message.contains("colour, plex_token"), "{}", v.message);
}

#[test]
fn page_sizes_default_and_cap() {
    assert_eq!(page_size(0).unwrap(), 100);
    assert_eq!(page_size(5).unwrap(), 5);
    assert_eq!(page_size(5000).unwrap(), 1000);
    assert!(page_size(-1).is_err());
}

#[test]
fn tokens_round_trip_and_refuse_other_filters() {
    let key = PageTokenKey::new(b"k");
    let token = PageToken {
        fingerprint: fingerprint(&["a"]),
        after: vec![CursorValue::Text("x".into()), CursorValue::Bool(true)],
    };
    let encoded = token.encode(&key);
    let keys = [
        SortKey {
            field: SortField::Name,
            descending: false,
        },
        SortKey {
            field: SortField::Enabled,
            descending: true,
        },
    ];
    let f = fingerprint(&["a"]);
    assert_eq!(PageToken::decode(&encoded, &key, &f, &keys).unwrap(), token);
    assert!(PageToken::decode(&encoded, &key, &fingerprint(&["b"]), &keys).is_err());
    assert!(PageToken::decode("garbage!", &key, &f, &keys).is_err());
    // Values that do not fit their keys.
    assert!(PageToken::decode(&encoded, &key, &f, &[keys[1], keys[0]]).is_err());
    let by_pk = [
        SortKey {
            field: SortField::Pk,
            descending: false,
        },
        keys[1],
    ];
    assert!(PageToken::decode(&encoded, &key, &f, &by_pk).is_err());
    assert!(PageToken::decode(&encoded, &key, &f, &keys[..1]).is_err());
}

fn message(err: Violations) -> String {
    err.iter().next().unwrap().message.clone()
}

#[test]
fn only_tokens_sealed_with_the_key_are_read() {
    let key = PageTokenKey::new(b"deployment key");
    let keys = [SortKey {
        field: SortField::Name,
        descending: false,
    }];
    let f = fingerprint(&["a"]);
    let token = PageToken {
        fingerprint: f.clone(),
        after: vec![CursorValue::Text("x".into())],
    };
    let encoded = token.encode(&key);
    let (payload, seal) = encoded.split_once('.').unwrap();

    // Another deployment's key, no seal, an edited payload or seal.
    let other = token.encode(&PageTokenKey::new(b"another key"));
    let edited = PageToken {
        fingerprint: f.clone(),
        after: vec![CursorValue::Text("y".into())],
    };
    let edited_payload = edited.encode(&key).split_once('.').unwrap().0.to_owned();
    let mut flipped = URL_SAFE_NO_PAD.decode(seal).unwrap();
    flipped[0] ^= 1;
    for refused in [
        other,
        payload.to_owned(),
        format!("{payload}."),
        format!("{edited_payload}.{seal}"),
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(flipped)),
        format!("{payload}.{}", &seal[..10]),
    ] {
        let err = PageToken::decode(&refused, &key, &f, &keys).unwrap_err();
        assert_eq!(message(err), BAD_TOKEN, "{refused}");
    }
    // A sealed token of other arguments says so.
    let err = PageToken::decode(&encoded, &key, &fingerprint(&["b"]), &keys).unwrap_err();
    assert!(message(err).contains("other filter"));
}

#[test]
fn search_takes_at_most_twenty_terms() {
    assert_eq!(search_terms("  Plex  HOME ").unwrap(), ["plex", "home"]);
    assert_eq!(search_terms(&"a ".repeat(20)).unwrap().len(), 20);
    assert_eq!(search_terms(&"a,".repeat(20)).unwrap().len(), 20);
    assert!(search_terms(&"a,".repeat(21)).is_err());
    let err = search_terms(&"a ".repeat(70_000)).unwrap_err();
    let v = err.iter().next().unwrap();
    assert_eq!((v.field.as_str(), v.code), ("search", "max_length"));
    assert!(v.message.contains("20 search terms"), "{}", v.message);
}

fn split(text: &str) -> Vec<&str> {
    SmartSplit::new(text).collect()
}

#[test]
fn smart_split_keeps_quoted_strings_together() {
    // Django's own examples (django/utils/text.py).
    assert_eq!(
        split(r#"This is "a person\'s" test."#),
        ["This", "is", r#""a person\'s""#, "test."]
    );
    assert_eq!(
        split(r"Another 'person\'s' test."),
        ["Another", r"'person\'s'", "test."]
    );
    assert_eq!(
        split(r#"A "\"funky\" style" test."#),
        ["A", r#""\"funky\" style""#, "test."]
    );
    // Quoted strings inside a token, unclosed quotes, escaped line feeds.
    assert_eq!(split(r#"a"b c"d e"#), [r#"a"b c"d"#, "e"]);
    assert_eq!(split(r#""a"b"c"#), [r#""a"b"#, r#""c"#]);
    assert_eq!(split("x\"open y"), ["x\"open", "y"]);
    assert_eq!(split("\"a\\\nb\" c"), ["\"a\\", "b\"", "c"]);
    assert_eq!(split(" \u{1f}a\u{3000}b\u{a0}"), ["a", "b"]);
    assert!(split("   ").is_empty());
}

#[test]
fn search_splits_as_drf_does() {
    let cases: &[(&str, &[&str])] = &[
        ("  Plex  HOME ", &["plex", "home"]),
        ("plex,home", &["plex", "home"]),
        ("plex, home,,", &["plex", "home"]),
        (",plex,", &["plex"]),
        (r#""plex home" x"#, &["plex home", "x"]),
        (r#"'plex, home'"#, &["plex, home"]),
        (r#","plex home","#, &["plex home"]),
        (r#""say \"hi\"""#, &[r#"say "hi""#]),
        (r#""a\\b""#, &[r"a\b"]),
        (r#"""#, &[""]),
        (r#"x"a, b"y"#, &[r#"x"a"#, r#"b"y"#]),
        (r#"x", ,"#, &[r#"x""#]),
        ("x\", ,\"", &["x\"", "", "\""]),
        ("", &[]),
    ];
    for (search, want) in cases {
        assert_eq!(search_terms(search).unwrap(), *want, "{search:?}");
    }
    // The 3.15 split keeps a quoted phrase, and its spaces, whole.
    assert_eq!(search_terms("\"Plex  Home\"").unwrap(), ["plex  home"]);
}

#[test]
fn search_keys_tell_term_lists_apart() {
    let key = |search: &str| search_key(&search_terms(search).unwrap());
    assert_eq!(key("plex home"), "plex home");
    assert_eq!(key("plex,home"), "plex home");
    assert_ne!(key("\"plex home\""), key("plex home"));
    assert_ne!(key("\"\" plex"), key("plex"));
    assert_ne!(key(r#"'["a' 'b"]'"#), key(r#"["a b"]"#));
    assert_eq!(key(""), "");
}

#[test]
fn search_refuses_null_characters() {
    let err = search_terms("plex\0").unwrap_err();
    let v = err.iter().next().unwrap();
    assert_eq!(
        (v.field.as_str(), v.code, v.message.as_str()),
        (
            "search",
            "null_characters_not_allowed",
            "Null characters are not allowed."
        )
    );
}

#[test]
fn fingerprints_separate_parts() {
    assert_ne!(fingerprint(&["ab", "c"]), fingerprint(&["a", "bc"]));
}
