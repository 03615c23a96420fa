//! The generators 3x-ui runs its Xray binary for (`getNewmldsa65`, `getNewmlkem768`,
//! `getNewVlessEnc`, `getNewEchCert`), run by the picked server's core through its agent
//! (`core.generate`): the keys come from the Xray the inbound will use. A server whose core
//! is v2ray answers `success:false` saying it has no such generator.

use axum::extract::Query;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use xfleet_common::methods::{core_methods, GeneratedKeys, KeyRequest, VlessEncAuth};

use super::call_agent;
use crate::compat::{pick_server, Body, ServerParam, XuiCall};
use crate::front::{reply_as, ApiError, Call, Msg};
use crate::Controller;

pub async fn mldsa65(
    XuiCall(Call { ctl, .. }): XuiCall,
    Query(q): Query<ServerParam>,
) -> Json<Msg> {
    let result = generate(&ctl, &q, KeyRequest::Mldsa65).await;
    reply_as("", "Failed to get a new ML-DSA-65 key", result)
}

pub async fn mlkem768(
    XuiCall(Call { ctl, .. }): XuiCall,
    Query(q): Query<ServerParam>,
) -> Json<Msg> {
    let result = generate(&ctl, &q, KeyRequest::Mlkem768).await;
    reply_as("", "Failed to generate mlkem768 keys", result)
}

pub async fn vless_enc(
    XuiCall(Call { ctl, .. }): XuiCall,
    Query(q): Query<ServerParam>,
) -> Json<Msg> {
    let result = generate(&ctl, &q, KeyRequest::Vlessenc).await;
    reply_as("", "Failed to get new VLESS encryption keys", result)
}

#[derive(Deserialize)]
pub struct EchForm {
    #[serde(default)]
    sni: String,
}

pub async fn ech(
    XuiCall(Call { ctl, .. }): XuiCall,
    Query(q): Query<ServerParam>,
    Body(form): Body<EchForm>,
) -> Json<Msg> {
    let request = KeyRequest::Ech {
        server_name: form.sni,
    };
    let result = generate(&ctl, &q, request).await;
    reply_as("", "get ech certificate", result)
}

/// Runs the generator on the picked server and answers in 3x-ui's shape.
async fn generate(
    ctl: &Controller,
    q: &ServerParam,
    request: KeyRequest,
) -> Result<Value, ApiError> {
    let server = pick_server(ctl, q).await?;
    let keys: GeneratedKeys = call_agent(ctl, &server, core_methods::GENERATE, &request).await?;
    Ok(shape(keys))
}

fn shape(keys: GeneratedKeys) -> Value {
    match keys {
        GeneratedKeys::Mldsa65 { seed, verify } => json!({"seed": seed, "verify": verify}),
        GeneratedKeys::Mlkem768 { seed, client } => json!({"seed": seed, "client": client}),
        GeneratedKeys::Vlessenc { auths } => json!({"auths": vless_auths(&auths)}),
        GeneratedKeys::Ech {
            config_list,
            server_keys,
        } => json!({"echServerKeys": server_keys, "echConfigList": config_list}),
    }
}

/// v3's list: each authentication Xray printed, with an `id` from its label, then the same
/// pairs in the `xorpub` and `random` modes (the `native` in the pair replaced), as v3 offers.
fn vless_auths(auths: &[VlessEncAuth]) -> Vec<Value> {
    let id = |label: &str| {
        let plain: String = label
            .to_ascii_lowercase()
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .collect();
        if plain.contains("mlkem768") {
            "mlkem768".to_owned()
        } else if plain.contains("x25519") {
            "x25519".to_owned()
        } else {
            plain
        }
    };
    let mut out: Vec<Value> = auths
        .iter()
        .map(|a| {
            json!({"id": id(&a.label), "label": a.label, "decryption": a.decryption,
                   "encryption": a.encryption})
        })
        .collect();
    for a in auths {
        for mode in ["xorpub", "random"] {
            let swap = |s: &str| s.replacen(".native.", &format!(".{mode}."), 1);
            let (decryption, encryption) = (swap(&a.decryption), swap(&a.encryption));
            if decryption == a.decryption && encryption == a.encryption {
                continue;
            }
            out.push(json!({"id": format!("{}_{mode}", id(&a.label)),
                            "label": format!("{} ({mode})", a.label),
                            "decryption": decryption, "encryption": encryption}));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_have_3x_uis_field_names() {
        let ech = shape(GeneratedKeys::Ech {
            config_list: "list".into(),
            server_keys: "keys".into(),
        });
        assert_eq!(
            ech,
            json!({"echServerKeys": "keys", "echConfigList": "list"})
        );
        let kem = shape(GeneratedKeys::Mlkem768 {
            seed: "s".into(),
            client: "c".into(),
        });
        assert_eq!(kem, json!({"seed": "s", "client": "c"}));
    }

    #[test]
    fn vless_pairs_come_with_ids_and_v3s_other_modes() {
        let auths = [VlessEncAuth {
            label: "ML-KEM-768, Post-Quantum".into(),
            decryption: "mlkem768x25519plus.native.600s.S".into(),
            encryption: "mlkem768x25519plus.native.0rtt.C".into(),
        }];
        let out = vless_auths(&auths);
        let ids: Vec<&str> = out.iter().map(|a| a["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["mlkem768", "mlkem768_xorpub", "mlkem768_random"]);
        assert_eq!(out[1]["decryption"], "mlkem768x25519plus.xorpub.600s.S");
        assert_eq!(out[2]["label"], "ML-KEM-768, Post-Quantum (random)");
    }
}
