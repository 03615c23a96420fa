//! [`Account`] → the core's `TypedMessage`, per namespace.

use super::proto::{self, cipher, TypedMessage};
use super::user::{Account, User};
use super::{ApiError, Namespace};

/// The `common.protocol.User` for `user` at level 0 (the level the stats policy is set on).
pub fn user_message(ns: Namespace, user: &User) -> Result<proto::User, ApiError> {
    Ok(proto::User {
        level: 0,
        email: user.email.clone(),
        account: Some(account_message(ns, &user.account)?),
    })
}

/// The account as the proxy expects it in `User.account`.
pub fn account_message(ns: Namespace, account: &Account) -> Result<TypedMessage, ApiError> {
    Ok(match account {
        Account::Vmess { id } => TypedMessage::new(
            ns,
            "proxy.vmess.Account",
            &proto::VmessAccount {
                id: id.clone(),
                alter_id: 0,
            },
        ),
        Account::Vless { id, flow } => TypedMessage::new(
            ns,
            "proxy.vless.Account",
            &proto::VlessAccount {
                id: id.clone(),
                flow: flow.clone(),
            },
        ),
        Account::Trojan { password } => TypedMessage::new(
            ns,
            "proxy.trojan.Account",
            &proto::TrojanAccount {
                password: password.clone(),
            },
        ),
        Account::Shadowsocks { password, method } => TypedMessage::new(
            ns,
            "proxy.shadowsocks.Account",
            &proto::ShadowsocksAccount {
                password: password.clone(),
                cipher_type: cipher_type(ns, method)?,
                iv_check: false,
            },
        ),
        Account::Shadowsocks2022 { key } => {
            xray_only(ns, "Shadowsocks 2022")?;
            TypedMessage::new(
                ns,
                "proxy.shadowsocks_2022.Account",
                &proto::Shadowsocks2022Account { key: key.clone() },
            )
        }
        Account::Hysteria { auth } => {
            xray_only(ns, "Hysteria")?;
            TypedMessage::new(
                ns,
                "proxy.hysteria.account.Account",
                &proto::HysteriaAccount { auth: auth.clone() },
            )
        }
    })
}

/// The `CipherType` number of a legacy Shadowsocks method; the two cores number them apart.
pub fn cipher_type(ns: Namespace, method: &str) -> Result<i32, ApiError> {
    let method = method.to_ascii_lowercase();
    let number = match (ns, method.as_str()) {
        (Namespace::Xray, "aes-128-gcm") => cipher::xray::AES_128_GCM,
        (Namespace::Xray, "aes-256-gcm") => cipher::xray::AES_256_GCM,
        (Namespace::Xray, "chacha20-poly1305" | "chacha20-ietf-poly1305") => {
            cipher::xray::CHACHA20_POLY1305
        }
        (Namespace::Xray, "xchacha20-poly1305" | "xchacha20-ietf-poly1305") => {
            cipher::xray::XCHACHA20_POLY1305
        }
        (Namespace::Xray, "none" | "plain") => cipher::xray::NONE,
        (Namespace::V2ray, "aes-128-gcm") => cipher::v2ray::AES_128_GCM,
        (Namespace::V2ray, "aes-256-gcm") => cipher::v2ray::AES_256_GCM,
        (Namespace::V2ray, "chacha20-poly1305" | "chacha20-ietf-poly1305") => {
            cipher::v2ray::CHACHA20_POLY1305
        }
        (Namespace::V2ray, "none" | "plain") => cipher::v2ray::NONE,
        _ => {
            return Err(ApiError::Unsupported(format!(
                "shadowsocks method {method:?} on a {ns} core"
            )))
        }
    };
    Ok(number)
}

fn xray_only(ns: Namespace, what: &str) -> Result<(), ApiError> {
    match ns {
        Namespace::Xray => Ok(()),
        Namespace::V2ray => Err(ApiError::Unsupported(format!(
            "{what} accounts need an Xray core"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    fn vless() -> Account {
        Account::Vless {
            id: "66ad4540-b58c-4ad2-9926-ea63445a9b57".into(),
            flow: "xtls-rprx-vision".into(),
        }
    }

    #[test]
    fn type_names_carry_the_namespace() {
        let shadowsocks = Account::Shadowsocks {
            password: "p".into(),
            method: "aes-128-gcm".into(),
        };
        let cases = [
            (vless(), "proxy.vless.Account", true),
            (
                Account::Vmess { id: "x".into() },
                "proxy.vmess.Account",
                true,
            ),
            (
                Account::Trojan {
                    password: "p".into(),
                },
                "proxy.trojan.Account",
                true,
            ),
            // The cipher enum is numbered differently.
            (shadowsocks, "proxy.shadowsocks.Account", false),
        ];
        for (account, name, same_bytes) in cases {
            let xray = account_message(Namespace::Xray, &account).unwrap();
            let v2ray = account_message(Namespace::V2ray, &account).unwrap();
            assert_eq!(xray.r#type, format!("xray.{name}"));
            assert_eq!(v2ray.r#type, format!("v2ray.core.{name}"));
            assert_eq!(xray.value == v2ray.value, same_bytes, "{name}");
        }
        let ss2022 = Account::Shadowsocks2022 { key: "k".into() };
        assert_eq!(
            account_message(Namespace::Xray, &ss2022).unwrap().r#type,
            "xray.proxy.shadowsocks_2022.Account"
        );
        let hysteria = Account::Hysteria { auth: "a".into() };
        assert_eq!(
            account_message(Namespace::Xray, &hysteria).unwrap().r#type,
            "xray.proxy.hysteria.account.Account"
        );
    }

    #[test]
    fn xray_only_accounts_are_unsupported_on_v2ray() {
        for account in [
            Account::Shadowsocks2022 { key: "k".into() },
            Account::Hysteria { auth: "a".into() },
        ] {
            let err = account_message(Namespace::V2ray, &account).unwrap_err();
            assert!(matches!(err, ApiError::Unsupported(_)), "{err:?}");
        }
    }

    #[test]
    fn vless_account_encodes_as_the_proto_says() {
        // Account { string id = 1; string flow = 2; }: tag (field << 3 | wire type 2), length,
        // UTF-8 bytes, in field order.
        let bytes = account_message(Namespace::Xray, &vless()).unwrap().value;
        let mut expected = vec![0x0a, 36];
        expected.extend_from_slice(b"66ad4540-b58c-4ad2-9926-ea63445a9b57");
        expected.extend_from_slice(&[0x12, 16]);
        expected.extend_from_slice(b"xtls-rprx-vision");
        assert_eq!(bytes, expected);
    }

    #[test]
    fn add_user_operation_nests_user_and_account() {
        let user = User {
            email: "a@b".into(),
            account: Account::Trojan {
                password: "pw".into(),
            },
        };
        let op = proto::AddUserOperation {
            user: Some(user_message(Namespace::V2ray, &user).unwrap()),
        };
        // AddUserOperation.user (1) → User { email (2), account (3) → TypedMessage { type (1),
        // value (2) → trojan Account { password (1) } } }; level 0 is not on the wire.
        let account = [0x0a, 2, b'p', b'w'];
        let type_name = b"v2ray.core.proxy.trojan.Account";
        let mut typed = vec![0x0a, type_name.len() as u8];
        typed.extend_from_slice(type_name);
        typed.extend_from_slice(&[0x12, account.len() as u8]);
        typed.extend_from_slice(&account);
        let mut user_bytes = vec![0x12, 3, b'a', b'@', b'b', 0x1a, typed.len() as u8];
        user_bytes.extend_from_slice(&typed);
        let mut expected = vec![0x0a, user_bytes.len() as u8];
        expected.extend_from_slice(&user_bytes);
        assert_eq!(op.encode_to_vec(), expected);
    }

    #[test]
    fn shadowsocks_cipher_numbers_differ_per_core() {
        assert_eq!(cipher_type(Namespace::Xray, "aes-256-gcm").unwrap(), 6);
        assert_eq!(cipher_type(Namespace::V2ray, "aes-256-gcm").unwrap(), 2);
        assert_eq!(
            cipher_type(Namespace::Xray, "chacha20-ietf-poly1305").unwrap(),
            7
        );
        assert_eq!(
            cipher_type(Namespace::V2ray, "CHACHA20-POLY1305").unwrap(),
            3
        );
        assert_eq!(
            cipher_type(Namespace::Xray, "xchacha20-poly1305").unwrap(),
            8
        );
        for (ns, method) in [
            (Namespace::V2ray, "xchacha20-poly1305"),
            (Namespace::Xray, "2022-blake3-aes-128-gcm"),
            (Namespace::V2ray, "aes-256-cfb"),
        ] {
            assert!(matches!(
                cipher_type(ns, method),
                Err(ApiError::Unsupported(_))
            ));
        }
    }
}
