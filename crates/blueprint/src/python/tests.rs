use super::*;

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

fn fmt(template: &str, args: &str) -> Result<String, FormatError> {
    match yaml(args) {
        Value::Sequence(items) => percent_format(template, &items),
        other => panic!("{other:?}"),
    }
}

#[test]
fn truthiness_is_pythons() {
    for falsy in ["null", "false", "0", "0.0", "''", "[]", "{}"] {
        assert!(!truthy(&yaml(falsy)), "{falsy}");
    }
    for true_ in [
        "true",
        "1",
        "-1",
        "0.5",
        "'0'",
        "'false'",
        "[0]",
        "{a: null}",
    ] {
        assert!(truthy(&yaml(true_)), "{true_}");
    }
}

#[test]
fn str_and_repr_match_python() {
    assert_eq!(str_of(&yaml("null")), "None");
    assert_eq!(str_of(&yaml("true")), "True");
    assert_eq!(str_of(&yaml("2024")), "2024");
    assert_eq!(str_of(&yaml("1.0")), "1.0");
    assert_eq!(str_of(&yaml("1.5e20")), "1.5e+20");
    assert_eq!(str_of(&yaml("0.00001")), "1e-05");
    assert_eq!(str_of(&yaml("text")), "text");
    assert_eq!(str_of(&yaml("[a, 1, null]")), "['a', 1, None]");
    assert_eq!(str_of(&yaml("{a: \"it's\"}")), "{'a': \"it's\"}");
}

#[test]
fn percent_formatting_matches_python() {
    for (template, args, formatted) in [
        ("%s-%s", "[a, 1]", "a-1"),
        ("%d%%", "[42]", "42%"),
        ("%d", "[2.9]", "2"),
        ("%05d|%-4s|%4s", "[-42, ab, cd]", "-0042|ab  |  cd"),
        ("%.2f %x %r", "[3.14159, 255, a]", "3.14 ff 'a'"),
        ("%s", "[[1, b]]", "[1, 'b']"),
        ("no args", "[]", "no args"),
    ] {
        assert_eq!(fmt(template, args).unwrap(), formatted, "{template}");
    }
    for (template, args, error) in [
        ("%s %s", "[a]", "not enough arguments for format string"),
        (
            "%s",
            "[a, b]",
            "not all arguments converted during string formatting",
        ),
        (
            "%d",
            "[abc]",
            "%d format: a real number is required, not str",
        ),
        (
            "%q",
            "[a]",
            "unsupported format character 'q' (0x71) at index 1",
        ),
        ("50%", "[]", "incomplete format"),
        ("%(a)s", "[a]", "format requires a mapping"),
    ] {
        assert_eq!(fmt(template, args).unwrap_err().0, error, "{template}");
    }
}

#[test]
fn merging_is_always_mergers() {
    let mut base = yaml("{a: {x: 1, l: [1]}, b: 2}");
    merge(&mut base, yaml("{a: {y: 2, l: [2]}, b: {c: 3}}"));
    assert_eq!(base, yaml("{a: {x: 1, l: [1, 2], y: 2}, b: {c: 3}}"));
}

#[test]
fn uuids_read_as_django_reads_them() {
    let id = "0f0f0f0f-aaaa-4bbb-8ccc-0123456789ab";
    let f31 = format!(" {}", "f".repeat(31));
    let a31 = format!("+{}", "a".repeat(31));
    let b30 = format!("0x{}", "b".repeat(30));
    let c28 = format!("\t0X_{}", "c".repeat(28));
    for (text, want) in [
        (id, id),
        ("0F0F0F0FAAAA4BBB8CCC0123456789AB", id),
        ("{0f0f0f0f-aaaa-4bbb-8ccc-0123456789ab}", id),
        ("urn:uuid:0f0f0f0f-aaaa-4bbb-8ccc-0123456789ab", id),
        ("0f-0f0f0f-aaaa4bbb8ccc-012345-6789ab", id),
        (
            "0f0f0f0f_aaa4bbb8ccc0123456789ab",
            "00f0f0f0-faaa-4bbb-8ccc-0123456789ab",
        ),
        (&f31, "0fffffff-ffff-ffff-ffff-ffffffffffff"),
        (&a31, "0aaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"),
        (&b30, "00bbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"),
        (&c28, "0000cccc-cccc-cccc-cccc-cccccccccccc"),
    ] {
        assert_eq!(
            django_uuid(&Value::String(text.into())),
            Uuid::parse_str(want).ok(),
            "{text:?}"
        );
    }
    for text in [
        "",
        "x",
        " 0f0f0f0f-aaaa-4bbb-8ccc-0123456789ab",
        "0f0f0f0f-aaaa-4bbb-8ccc-0123456789abc",
        "0f0f0f0f-aaaa-4bbb-8ccc-0123456789ag",
        "_fffffffffffffffffffffffffffffff",
        "0f0f0f0f__aaa4bbb8ccc0123456789ab",
        "0x_aaaaaaaaaaaaaaaaaaaaaaaaaaaaa_",
    ] {
        assert_eq!(django_uuid(&Value::String(text.into())), None, "{text:?}");
    }
    assert_eq!(django_uuid(&yaml("5")), Some(Uuid::from_u128(5)));
    assert_eq!(django_uuid(&yaml("true")), Some(Uuid::from_u128(1)));
    for other in ["-1", "1.5", "null", "[a]", "{a: 1}"] {
        assert_eq!(django_uuid(&yaml(other)), None, "{other}");
    }
}
