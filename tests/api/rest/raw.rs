//! The REST API over raw HTTP/1.1 and HTTP/2: the JSON key order and the
//! error bodies byte for byte, as authentik writes them; no cookies, no
//! CORS; gRPC and REST side by side on one port; the OpenAPI document.

use plex_source_service::domain::access::Permission;
use serde_json::Value;

use super::{Http, raw};
use crate::{
    backend_tests,
    helpers::{TestApp, new_source, pb},
};

const COLLECTION: &str = "/api/v3/sources/plex/";

/// authentik's serializer order.
const FIELD_ORDER: [&str; 22] = [
    "pk",
    "name",
    "slug",
    "enabled",
    "authentication_flow",
    "enrollment_flow",
    "user_property_mappings",
    "group_property_mappings",
    "component",
    "verbose_name",
    "verbose_name_plural",
    "meta_model_name",
    "policy_engine_mode",
    "user_matching_mode",
    "managed",
    "user_path_template",
    "icon",
    "group_matching_mode",
    "client_id",
    "allowed_servers",
    "allow_friends",
    "plex_token",
];

async fn a_source_is_written_as_authentik_writes_it(app: TestApp) {
    let created = app
        .create(
            app.admin(),
            pb::PlexSource {
                allowed_servers: vec!["s1".into()],
                ..new_source("order")
            },
        )
        .await
        .unwrap();
    let viewer = app
        .caller("viewer", &[(Permission::View, Some("order"))])
        .await;
    let bearer = format!("Bearer {viewer}");
    for http in [Http::One, Http::Two] {
        let reply = raw(
            app.addr,
            http,
            "GET",
            "/api/v3/sources/plex/order/",
            &[("authorization", &bearer)],
            b"",
        )
        .await;
        assert_eq!(reply.status, 200, "{http:?}: {}", reply.text());
        assert_eq!(reply.header("content-type"), Some("application/json"));
        let expected = format!(
            concat!(
                r#"{{"pk":"{pk}","name":"Source order","slug":"order","enabled":true,"#,
                r#""authentication_flow":null,"enrollment_flow":null,"user_property_mappings":[],"#,
                r#""group_property_mappings":[],"component":"ak-source-plex-form","#,
                r#""verbose_name":"Plex Source","verbose_name_plural":"Plex Sources","#,
                r#""meta_model_name":"authentik_sources_plex.plexsource","policy_engine_mode":"any","#,
                r#""user_matching_mode":"identifier","managed":null,"#,
                r#""user_path_template":"goauthentik.io/sources/%(slug)s","#,
                r#""icon":"/static/authentik/sources/plex.svg","group_matching_mode":"identifier","#,
                r#""client_id":"{client_id}","allowed_servers":["s1"],"allow_friends":true,"#,
                r#""plex_token":""}}"#
            ),
            pk = created.pk,
            client_id = created.client_id,
        );
        assert_eq!(reply.text(), expected, "{http:?}: byte for byte");
        assert!(reply.header("set-cookie").is_none(), "no cookies");
        assert!(
            reply
                .headers
                .keys()
                .all(|name| !name.as_str().starts_with("access-control-")),
            "no CORS headers"
        );
    }

    // The list: the envelope's keys and each result's, in order.
    let reply = raw(
        app.addr,
        Http::One,
        "GET",
        "/api/v3/sources/plex/?page_size=1",
        &[("authorization", &bearer)],
        b"",
    )
    .await;
    assert_eq!(reply.status, 200);
    let text = reply.text();
    assert!(
        text.starts_with(concat!(
            r#"{"pagination":{"next":0,"previous":0,"count":1,"current":1,"#,
            r#""total_pages":1,"start_index":1,"end_index":1},"results":[{"pk":"#
        )),
        "{text}"
    );
    assert!(text.ends_with(r#"}],"autocomplete":{}}"#), "{text}");
    let value: Value = serde_json::from_str(text).unwrap();
    let keys: Vec<&str> = FIELD_ORDER.to_vec();
    let result = &value["results"][0];
    assert_eq!(result.as_object().unwrap().len(), keys.len());
    let mut at = 0;
    for key in keys {
        let found = text[at..]
            .find(&format!("\"{key}\":"))
            .unwrap_or_else(|| panic!("{key} after the previous field: {text}"));
        at += found;
    }
}

/// Method, path, authorization, body, status and the exact answer.
type Case<'a> = (&'a str, &'a str, Option<&'a str>, &'a str, u16, &'a str);

async fn errors_are_written_as_authentik_writes_them(app: TestApp) {
    app.create(app.admin(), new_source("taken")).await.unwrap();
    let admin = format!("Bearer {}", app.admin_key);
    let nobody = format!("Bearer {}", app.caller("nobody", &[]).await);
    let json = ("content-type", "application/json");
    let cases: Vec<Case> = vec![
        (
            "GET",
            COLLECTION,
            None,
            "",
            403,
            r#"{"detail":"Authentication credentials were not provided."}"#,
        ),
        (
            "GET",
            "/api/v3/sources/plex/taken/",
            None,
            "",
            403,
            r#"{"detail":"You do not have permission to perform this action."}"#,
        ),
        (
            "GET",
            COLLECTION,
            Some("Bearer nope"),
            "",
            403,
            r#"{"detail":"Token invalid/expired"}"#,
        ),
        (
            "GET",
            COLLECTION,
            Some("Basic YWxhZGRpbjpvcGVu"),
            "",
            403,
            r#"{"detail":"Unsupported authentication type"}"#,
        ),
        (
            "GET",
            "/api/v3/sources/plex/taken/",
            Some(&nobody),
            "",
            403,
            r#"{"detail":"You do not have permission to perform this action."}"#,
        ),
        (
            "GET",
            "/api/v3/sources/plex/absent/",
            Some(&admin),
            "",
            404,
            r#"{"detail":"No PlexSource matches the given query."}"#,
        ),
        (
            "GET",
            "/api/v3/sources/plex/bad%20slug/",
            Some(&admin),
            "",
            404,
            r#"{"detail":"No PlexSource matches the given query."}"#,
        ),
        (
            "GET",
            "/api/v3/sources/plex/?page=2",
            Some(&admin),
            "",
            404,
            r#"{"detail":"Invalid page."}"#,
        ),
        (
            "GET",
            "/api/v3/sources/plex/?page=zero",
            Some(&admin),
            "",
            404,
            r#"{"detail":"Invalid page."}"#,
        ),
        (
            "GET",
            "/api/v3/nothing/",
            Some(&admin),
            "",
            404,
            r#"{"detail":"Not found."}"#,
        ),
        (
            "GET",
            "/api/v3/sources/plex",
            Some(&admin),
            "",
            404,
            r#"{"detail":"Not found."}"#,
        ),
        (
            "POST",
            "/api/v3/sources/plex/taken/",
            Some(&admin),
            "",
            405,
            r#"{"detail":"Method \"POST\" not allowed."}"#,
        ),
        (
            "POST",
            COLLECTION,
            Some(&admin),
            r#"{"name":" ","slug":"bad slug!","allowed_servers":["a",""," "],"user_property_mappings":["x"],"enabled":"maybe"}"#,
            400,
            concat!(
                r#"{"name":["This field may not be blank."],"#,
                r#""slug":["Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens."],"#,
                r#""enabled":["Must be a valid boolean."],"#,
                r#""user_property_mappings":["“x” is not a valid UUID."],"#,
                r#""allowed_servers":{"1":["This field may not be blank."],"2":["This field may not be blank."]},"#,
                r#""plex_token":["This field is required."]}"#
            ),
        ),
        (
            "POST",
            COLLECTION,
            Some(&admin),
            r#"{"name":" ","slug":"bad slug!","allowed_servers":["a",""," "]}"#,
            400,
            concat!(
                r#"{"name":["This field may not be blank."],"#,
                r#""slug":["Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens."],"#,
                r#""allowed_servers":{"1":["This field may not be blank."],"2":["This field may not be blank."]},"#,
                r#""plex_token":["This field is required."]}"#
            ),
        ),
        (
            "POST",
            COLLECTION,
            Some(&admin),
            r#"{"name":"x","slug":"taken","plex_token":"t"}"#,
            400,
            r#"{"slug":["source with this slug already exists."]}"#,
        ),
        (
            "POST",
            COLLECTION,
            Some(&admin),
            "[1]",
            400,
            r#"{"non_field_errors":["Invalid data. Expected a dictionary, but got list."]}"#,
        ),
        (
            "POST",
            COLLECTION,
            Some(&admin),
            "null",
            400,
            r#"{"non_field_errors":["No data provided"]}"#,
        ),
        (
            "PUT",
            "/api/v3/sources/plex/taken/",
            Some(&admin),
            r#"{"name":"x"}"#,
            400,
            r#"{"slug":["This field is required."],"plex_token":["This field is required."]}"#,
        ),
        (
            "PATCH",
            "/api/v3/sources/plex/taken/",
            Some(&admin),
            r#"{"enabled":null}"#,
            400,
            r#"{"enabled":["This field may not be null."]}"#,
        ),
        // A body nobody may send is not read for a caller who may not write.
        (
            "POST",
            COLLECTION,
            Some(&nobody),
            "{not json",
            403,
            r#"{"detail":"You do not have permission to perform this action."}"#,
        ),
        (
            "PATCH",
            "/api/v3/sources/plex/taken/",
            Some(&nobody),
            "{not json",
            403,
            r#"{"detail":"You do not have permission to perform this action."}"#,
        ),
        (
            "GET",
            "/api/v3/sources/plex/?authentication_flow=nope&policy_engine_mode=some",
            Some(&admin),
            "",
            400,
            concat!(
                r#"{"authentication_flow":["Select a valid choice. That choice is not one of the available choices."],"#,
                r#""policy_engine_mode":["Select a valid choice. some is not one of the available choices."]}"#
            ),
        ),
        (
            "GET",
            "/api/v3/sources/plex/?pbm_uuid=nope",
            Some(&admin),
            "",
            400,
            r#"{"pbm_uuid":["Enter a valid UUID."]}"#,
        ),
    ];
    for http in [Http::One, Http::Two] {
        for (method, path, authorization, body, status, expected) in &cases {
            let mut headers = vec![json];
            if let Some(value) = authorization {
                headers.push(("authorization", value));
            }
            let reply = raw(app.addr, http, method, path, &headers, body.as_bytes()).await;
            assert_eq!(
                (reply.status, reply.text()),
                (*status, *expected),
                "{http:?} {method} {path} {body}"
            );
            assert_eq!(reply.header("content-type"), Some("application/json"));
        }
    }

    // Malformed JSON: DRF's parse error, with the parser's reason.
    let reply = raw(
        app.addr,
        Http::One,
        "POST",
        COLLECTION,
        &[json, ("authorization", &admin)],
        b"{\"name\":",
    )
    .await;
    assert_eq!(reply.status, 400);
    assert!(
        reply
            .text()
            .starts_with(r#"{"detail":"JSON parse error - "#),
        "{}",
        reply.text()
    );
    // Another media type: 415, as DRF answers.
    let reply = raw(
        app.addr,
        Http::One,
        "POST",
        COLLECTION,
        &[("content-type", "text/plain"), ("authorization", &admin)],
        b"x",
    )
    .await;
    assert_eq!(
        (reply.status, reply.text()),
        (
            415,
            r#"{"detail":"Unsupported media type \"text/plain\" in request."}"#
        )
    );
    // Too large a body: refused without reading it whole.
    let big = vec![b' '; plex_source_service::rest::DEFAULT_MAX_BODY_BYTES + 1];
    let reply = raw(
        app.addr,
        Http::One,
        "POST",
        COLLECTION,
        &[json, ("authorization", &admin)],
        &big,
    )
    .await;
    assert_eq!(reply.status, 413);
    // 405 names the methods the route has.
    let reply = raw(
        app.addr,
        Http::One,
        "DELETE",
        COLLECTION,
        &[("authorization", &admin)],
        b"",
    )
    .await;
    assert_eq!(reply.header("allow"), Some("GET, POST, HEAD"));
}

async fn each_method_works_over_both_http_versions(app: TestApp) {
    let admin = format!("Bearer {}", app.admin_key);
    for (http, slug) in [(Http::One, "one"), (Http::Two, "two")] {
        let auth = ("authorization", admin.as_str());
        let json = ("content-type", "application/json; charset=utf-8");
        let body = format!(r#"{{"name":"N","slug":"{slug}","plex_token":"t"}}"#);
        let created = raw(
            app.addr,
            http,
            "POST",
            COLLECTION,
            &[auth, json],
            body.as_bytes(),
        )
        .await;
        assert_eq!(created.status, 201, "{http:?}: {}", created.text());
        let path = format!("{COLLECTION}{slug}/");
        let put = raw(
            app.addr,
            http,
            "PUT",
            &path,
            &[auth, json],
            body.replace("\"N\"", "\"M\"").as_bytes(),
        )
        .await;
        assert_eq!(put.status, 200, "{}", put.text());
        let patched = raw(
            app.addr,
            http,
            "PATCH",
            &path,
            &[auth, json],
            br#"{"enabled":"off"}"#,
        )
        .await;
        assert_eq!(patched.status, 200, "{}", patched.text());
        let grpc = app.retrieve(app.admin(), slug).await.unwrap();
        assert_eq!((grpc.name.as_str(), grpc.enabled), ("M", Some(false)));
        super::assert_same_source(
            &serde_json::from_slice(&patched.body).unwrap(),
            &grpc,
            "PATCH",
        );
        let head = raw(app.addr, http, "HEAD", &path, &[auth], b"").await;
        assert_eq!((head.status, head.body.len()), (200, 0));
        let deleted = raw(app.addr, http, "DELETE", &path, &[auth], b"").await;
        assert_eq!(deleted.status, 204);
        assert!(deleted.body.is_empty() && deleted.header("content-type").is_none());
        let again = raw(app.addr, http, "DELETE", &path, &[auth], b"").await;
        assert_eq!(again.status, 404);
    }
    // gRPC on the same port is untouched.
    assert!(app.retrieve(app.admin(), "one").await.is_err());
}

async fn the_openapi_document_describes_the_served_routes(app: TestApp) {
    let reply = raw(
        app.addr,
        Http::One,
        "GET",
        "/api/v3/schema/?format=json",
        &[],
        b"",
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("application/vnd.oai.openapi+json")
    );
    let doc: Value = serde_json::from_slice(&reply.body).expect("JSON");
    assert_eq!(doc["servers"][0]["url"], "/api/v3");
    let operations: Vec<(&str, &str)> = vec![
        ("/sources/plex/", "get"),
        ("/sources/plex/", "post"),
        ("/sources/plex/{slug}/", "get"),
        ("/sources/plex/{slug}/", "put"),
        ("/sources/plex/{slug}/", "patch"),
        ("/sources/plex/{slug}/", "delete"),
    ];
    let ids: Vec<&str> = operations
        .iter()
        .map(|(path, method)| {
            doc["paths"][path][method]["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}"))
        })
        .collect();
    assert_eq!(
        ids,
        [
            "sources_plex_list",
            "sources_plex_create",
            "sources_plex_retrieve",
            "sources_plex_update",
            "sources_plex_partial_update",
            "sources_plex_destroy"
        ]
    );
    let schema = &doc["components"]["schemas"]["PlexSource"]["properties"];
    let fields: Vec<&String> = schema.as_object().unwrap().keys().collect();
    assert_eq!(fields.len(), FIELD_ORDER.len(), "{fields:?}");
    let params: Vec<&str> = doc["paths"]["/sources/plex/"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "pbm_uuid",
        "page",
        "page_size",
        "ordering",
        "search",
        "group_matching_mode",
    ] {
        assert!(params.contains(&name), "{name} in {params:?}");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["authentik"]["scheme"],
        "bearer"
    );
    // YAML by default, as drf-spectacular serves it.
    let yaml = raw(app.addr, Http::One, "GET", "/api/v3/schema/", &[], b"").await;
    assert_eq!(
        yaml.header("content-type"),
        Some("application/vnd.oai.openapi")
    );
    assert!(yaml.text().contains("sources_plex_partial_update"));
}

backend_tests!(
    apps: [
        a_source_is_written_as_authentik_writes_it,
        errors_are_written_as_authentik_writes_them,
        each_method_works_over_both_http_versions,
        the_openapi_document_describes_the_served_routes,
    ],
);
