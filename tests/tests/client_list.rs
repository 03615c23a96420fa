//! The native clients list (`GET /api/v1/clients`) filters, sorts and pages in the database,
//! with the same answers on SQLite and PostgreSQL.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

use serde_json::{json, Value};
use xfleet_common::time::now_ms;
use xfleet_tests::xui::{Reply, XuiClient};
use xfleet_tests::{backends, free_port, Controller, ControllerOptions};

const CLIENTS: usize = 300;
const DAY: i64 = 86_400_000;
const GIB: i64 = 1 << 30;

fn database_url(ctl: &Controller) -> String {
    ctl.options.database_url.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}",
            ctl.dir.path().join("xfleet.db").to_str().unwrap()
        )
    })
}

/// Client `n`: a spread of cases, quotas, expiries, states and texts (with LIKE's own
/// wildcards in some comments).
fn client(n: usize, now: i64) -> Value {
    let i = n as i64;
    let email = match n % 7 {
        0 => format!("Zed{n:03}@example.com"),
        1 => format!("ann_{n:03}"),
        _ => format!("user{n:03}"),
    };
    let comment = match n % 5 {
        0 => String::new(),
        1 => format!("team {}", n % 3),
        2 => "50%_off".to_owned(),
        3 => format!("Remark {n}"),
        _ => "b".to_owned(),
    };
    let expiry = match n % 5 {
        0 => 0,
        1 => now - DAY,
        2 => now + DAY,
        3 => now + (30 + i) * DAY,
        _ => -7 * DAY,
    };
    let total = if n % 3 == 0 { 0 } else { (i % 4 + 1) * GIB };
    json!({"email": email, "comment": comment, "expiryTime": expiry, "totalGB": total,
        "enable": n % 6 != 0, "subId": format!("subid-{n:04}"),
        "tgId": if n % 9 == 0 { json!(100_000 + i) } else { json!(null) }})
}

/// Writes usage for some clients straight into the database, as ingest would: up and down
/// on one or two servers, a few of them over their quota, a few online now.
async fn write_usage(ctl: &Controller, clients: &[Value], servers: [i64; 2], now: i64) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(&database_url(ctl))
        .await
        .unwrap();
    for (n, c) in clients.iter().enumerate() {
        if n % 4 == 3 {
            continue;
        }
        let i = n as i64;
        let up = if n % 11 == 0 {
            5 * GIB
        } else {
            (i * 7919 % 1000) << 20
        };
        let down = (i * 104_729 % 1000) << 20;
        let last = if n % 10 == 0 {
            now
        } else {
            now - 3_600_000 - i
        };
        for (k, server) in servers.iter().enumerate().take(1 + n % 2) {
            sqlx::query(
                "INSERT INTO client_traffic (server_id, email, up, down, all_time, last_online) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(*server)
            .bind(c["email"].as_str().unwrap())
            .bind(up / (k as i64 + 1))
            .bind(down)
            .bind(up + down)
            .bind(last - k as i64)
            .execute(&mut db)
            .await
            .unwrap();
        }
    }
    db.close().await.unwrap();
}

fn int(c: &Value, key: &str) -> i64 {
    c[key]
        .as_i64()
        .unwrap_or_else(|| c[key].as_bool().map(i64::from).unwrap())
}

/// The order of two clients by `key` as the list promises it: the key, then the id.
fn by_key<'a>(
    key: &str,
    servers_of: &'a HashMap<i64, i64>,
) -> impl Fn(&Value, &Value) -> Ordering + 'a {
    let key = key.to_owned();
    move |a: &Value, b: &Value| {
        let value = |c: &Value| -> (i64, String) {
            match key.as_str() {
                "email" | "comment" => (0, c[key.as_str()].as_str().unwrap().to_owned()),
                "enable" => (int(c, "enable"), String::new()),
                "total" => (int(c, "totalGB"), String::new()),
                "expiry" => (int(c, "expiryTime"), String::new()),
                "inbounds" => (
                    c["inboundIds"].as_array().unwrap().len() as i64,
                    String::new(),
                ),
                "servers" => {
                    let ids = c["inboundIds"].as_array().unwrap();
                    let set: BTreeSet<i64> = ids
                        .iter()
                        .map(|i| servers_of[&i.as_i64().unwrap()])
                        .collect();
                    (set.len() as i64, String::new())
                }
                "id" | "up" | "down" | "used" | "allTime" | "lastOnline" => {
                    (int(c, &key), String::new())
                }
                other => panic!("no key {other}"),
            }
        };
        value(a)
            .cmp(&value(b))
            .then(int(a, "id").cmp(&int(b, "id")))
    }
}

fn emails(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|c| c["email"].as_str().unwrap().to_owned())
        .collect()
}

/// The `data` of a native API answer (panics with the body otherwise).
fn data(r: &Reply) -> Value {
    let v = r.json();
    assert_eq!(r.status, 200, "{v}");
    v["data"].clone()
}

/// Every page of `query` at `size` a page: the emails in order, and the totals each page said.
async fn all_pages(x: &mut XuiClient, query: &str, size: usize) -> (Vec<String>, BTreeSet<i64>) {
    let (mut out, mut totals) = (Vec::new(), BTreeSet::new());
    for page in 1.. {
        let r = x
            .get(&format!(
                "/api/v1/clients?{query}&page={page}&pageSize={size}"
            ))
            .await;
        let data = data(&r);
        assert_eq!(data["page"], json!(page));
        assert_eq!(data["pageSize"], json!(size));
        totals.insert(data["total"].as_i64().unwrap());
        let items = data["items"].as_array().unwrap();
        out.extend(emails(items));
        if items.len() < size {
            break;
        }
    }
    (out, totals)
}

/// A refused query: a 400 naming `field`, its message containing `says`.
async fn refused(x: &mut XuiClient, query: &str, field: &str, says: &str) {
    let r = x.get(&format!("/api/v1/clients?{query}")).await;
    assert_eq!(r.status, 400, "{query}");
    let error = &r.json()["error"];
    let fields = error["details"]["fields"].as_array().unwrap();
    assert!(
        fields
            .iter()
            .any(|f| f["field"] == json!(field) && f["message"].as_str().unwrap().contains(says)),
        "{query}: {error}"
    );
}

/// The clients list answers from the database the way a user sorting and filtering the
/// whole list would expect: each sort key in both directions gives the order a sort of the
/// full list gives (paged, every client exactly once, with the right total), every filter
/// keeps exactly its clients, the unpaged answer keeps its old shape, and bad parameters
/// are 400s naming the parameter and its limit; the OpenAPI document lists the parameters.
/// On SQLite and on PostgreSQL.
#[tokio::test(flavor = "multi_thread")]
async fn clients_list_sorts_filters_and_pages_in_the_database() {
    for (label, database_url) in backends().await {
        let ctl = Controller::start(ControllerOptions {
            database_url,
            // The limits job would disable depleted clients and start delayed expiries
            // while the test compares answers; the list shows the rows as they are stored.
            extra_env: vec![("XFLEET_LIMITS_CHECK_SECS".into(), "86400".into())],
            ..Default::default()
        })
        .await;
        let api = ctl.api();
        let (s1, _) = ctl.add_server("list-1").await;
        let (s2, _) = ctl.add_server("list-2").await;
        let inbound = |server: i64, remark: &str| {
            let body = json!({"remark": remark, "port": free_port(), "protocol": "vless",
                "settings": {"decryption": "none", "clients": []},
                "streamSettings": {"network": "tcp"}});
            let api = &api;
            async move {
                api.ok(
                    "POST",
                    &format!("/api/v1/servers/{server}/inbounds"),
                    Some(body),
                )
                .await["id"]
                    .as_i64()
                    .unwrap()
            }
        };
        let (a, b, c) = (
            inbound(s1, "a").await,
            inbound(s1, "b").await,
            inbound(s2, "c").await,
        );
        let servers_of = HashMap::from([(a, s1), (b, s1), (c, s2)]);
        let now = now_ms();
        let all: Vec<Value> = (0..CLIENTS).map(|n| client(n, now)).collect();
        let groups = [vec![a], vec![a, c], vec![b], vec![a, b, c]];
        for (g, ids) in groups.iter().enumerate() {
            let batch: Vec<Value> = all
                .iter()
                .enumerate()
                .filter(|(n, _)| n % 4 == g)
                .map(|(_, c)| c.clone())
                .collect();
            api.ok(
                "POST",
                "/api/v1/clients/add-many",
                Some(json!({"clients": batch, "inboundIds": ids})),
            )
            .await;
        }
        write_usage(&ctl, &all, [s1, s2], now).await;

        let token = api
            .ok("POST", "/api/v1/api-tokens", Some(json!({"name": "list"})))
            .await["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut x = XuiClient::new(&ctl.panel_url(), "");
        x.bearer = Some(token);

        // Without `page`: the list as before, every client in id order.
        let full: Vec<Value> = data(&x.get("/api/v1/clients").await)
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(full.len(), CLIENTS, "{label}");
        let ids: Vec<i64> = full.iter().map(|c| int(c, "id")).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{label}: id order");
        let over = full.iter().filter(|c| int(c, "used") >= 5 * GIB).count();
        assert!(over > 0, "{label}: some clients carry usage");

        // Each key both ways, paged 37 at a time: every client once, in the promised order.
        let keys = [
            "id",
            "email",
            "comment",
            "enable",
            "up",
            "down",
            "used",
            "allTime",
            "total",
            "expiry",
            "lastOnline",
            "inbounds",
            "servers",
        ];
        for key in keys {
            for desc in [false, true] {
                let mut expected = full.clone();
                expected.sort_by(by_key(key, &servers_of));
                if desc {
                    expected.reverse();
                }
                let order = if desc { "desc" } else { "asc" };
                let (got, totals) =
                    all_pages(&mut x, &format!("sort={key}&order={order}"), 37).await;
                let want = emails(&expected);
                let first = got.iter().zip(&want).position(|(g, w)| g != w);
                assert_eq!(
                    got, want,
                    "{label}: sort={key} {order}, first difference at {first:?}"
                );
                assert_eq!(totals, BTreeSet::from([CLIENTS as i64]), "{label}: {key}");
            }
        }
        // 3x-ui's names for two columns.
        let (remark, _) = all_pages(&mut x, "sort=remark&order=desc", 500).await;
        let (comment, _) = all_pages(&mut x, "sort=comment&order=desc", 500).await;
        assert_eq!(remark, comment, "{label}");

        // Every filter keeps exactly the clients it names.
        let online_since = now_ms() - 3 * 60 * 1000;
        let judge_now = now_ms();
        let text = |c: &Value, s: &str| {
            ["email", "comment", "subId"]
                .iter()
                .any(|k| c[*k].as_str().unwrap().to_lowercase().contains(s))
        };
        let depleted = |c: &Value| {
            (int(c, "totalGB") > 0 && int(c, "used") >= int(c, "totalGB"))
                || (int(c, "expiryTime") > 0 && int(c, "expiryTime") <= judge_now)
        };
        let attached = |c: &Value, i: i64| c["inboundIds"].as_array().unwrap().contains(&json!(i));
        type Keep<'a> = Box<dyn Fn(&Value) -> bool + 'a>;
        let cases: Vec<(String, Keep)> = vec![
            ("search=USER01".into(), Box::new(|c| text(c, "user01"))),
            ("search=50%25_".into(), Box::new(|c| text(c, "50%_"))),
            ("search=ann_".into(), Box::new(|c| text(c, "ann_"))),
            (
                "search=subid-001".into(),
                Box::new(|c| text(c, "subid-001")),
            ),
            (
                "search=100009".into(),
                Box::new(|c| int(c, "tgId") == 100_009 || text(c, "100009")),
            ),
            (
                "state=online".into(),
                Box::new(|c| int(c, "lastOnline") > online_since),
            ),
            (
                "filter=online".into(),
                Box::new(|c| int(c, "lastOnline") > online_since),
            ),
            ("state=depleted".into(), Box::new(depleted)),
            (
                "state=expiring".into(),
                Box::new(|c| {
                    let e = int(c, "expiryTime");
                    e > judge_now && e <= judge_now + 3 * DAY
                }),
            ),
            ("state=disabled".into(), Box::new(|c| int(c, "enable") == 0)),
            ("filter=enabled".into(), Box::new(|c| int(c, "enable") == 1)),
            (format!("inbound={b}"), Box::new(move |x| attached(x, b))),
            // The second server has one inbound.
            (format!("server={s2}"), Box::new(move |x| attached(x, c))),
            ("server=list-2".into(), Box::new(move |x| attached(x, c))),
            (
                format!("server={s1}&state=enabled&search=user"),
                Box::new(move |x| {
                    (attached(x, a) || attached(x, b)) && int(x, "enable") == 1 && text(x, "user")
                }),
            ),
        ];
        for (query, keep) in &cases {
            let expected = emails(&full.iter().filter(|x| keep(x)).cloned().collect::<Vec<_>>());
            assert!(
                !expected.is_empty() && expected.len() < CLIENTS,
                "{label}: {query} is a real test"
            );
            let (got, totals) = all_pages(&mut x, query, 25).await;
            assert_eq!(got, expected, "{label}: {query}");
            assert_eq!(
                totals,
                BTreeSet::from([expected.len() as i64]),
                "{label}: {query}"
            );
            let r = x.get(&format!("/api/v1/clients?{query}")).await;
            assert_eq!(
                emails(data(&r).as_array().unwrap()),
                expected,
                "{label}: {query} unpaged"
            );
        }

        // A page past the end of a search is empty and still says how many match.
        let users = full.iter().filter(|c| text(c, "user")).count();
        let past = data(
            &x.get("/api/v1/clients?search=user&page=999&pageSize=10")
                .await,
        );
        assert_eq!(past["items"], json!([]), "{label}");
        assert_eq!(past["total"], json!(users), "{label}: total past the end");

        // Bad parameters: 400s naming the parameter and what it takes.
        for (query, field, says) in [
            ("page=1&pageSize=0", "pageSize", "500"),
            ("page=1&pageSize=501", "pageSize", "500"),
            ("pageSize=many", "pageSize", "500"),
            ("page=0", "page", "1"),
            ("page=-3", "page", "1"),
            ("sort=colour", "sort", "email"),
            ("order=up", "order", "desc"),
            ("state=sleepy", "state", "expiring"),
            ("filter=sleepy", "filter", "expiring"),
        ] {
            refused(&mut x, query, field, says).await;
        }
        let r = x.get("/api/v1/clients?server=nowhere").await;
        assert_eq!(r.status, 404, "{label}: an unknown server");

        // The OpenAPI document names the query string.
        let doc = x.get("/api/v1/openapi.json").await.json();
        let params = doc["paths"]["/clients"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .clone();
        for name in [
            "search", "state", "inbound", "server", "sort", "order", "page", "pageSize",
        ] {
            assert!(
                params
                    .iter()
                    .any(|p| p["name"] == json!(name) && p["in"] == json!("query")),
                "{label}: {name} is not documented"
            );
        }
    }
}
