//! Keys only the core can make: Xray's own generators (`xray mldsa65`, `mlkem768`,
//! `vlessenc`, `tls ech`), run on this host and read from what they print. v2ray has none of
//! them. What they print is secret, so it never goes into an error message or a log.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use xfleet_common::methods::{GeneratedKeys, KeyRequest, VlessEncAuth};

use super::{CoreBinary, Flavour};

/// The generators answer at once; a hung one is killed.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Lines of a failing generator's error output worth passing on.
const ERROR_LINES: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The request itself is wrong (an ECH server name that is not a host name).
    #[error("{0}")]
    Invalid(String),
    /// This core has no such generator.
    #[error("{0}")]
    Unsupported(String),
    /// The generator ran and failed, or printed something unexpected.
    #[error("{0}")]
    Failed(String),
}

/// Runs the generator `request` names with `binary` and reads its answer.
pub async fn generate(
    binary: &CoreBinary,
    request: &KeyRequest,
) -> Result<GeneratedKeys, GenerateError> {
    let args = arguments(request)?;
    // `xray tls ech`, without the server name.
    let words: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .take_while(|a| !a.starts_with('-'))
        .collect();
    let command = format!("xray {}", words.join(" "));
    if binary.flavour != Flavour::Xray {
        return Err(GenerateError::Unsupported(format!(
            "{} are made by Xray's `{command}`; this server's core is v2ray {}, which has no \
             such generator (point `core.binary` in agent.toml at an Xray binary to use it)",
            what(request),
            binary.version
        )));
    }
    let output = Command::new(&binary.path)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = match tokio::time::timeout(TIMEOUT, output).await {
        Err(_) => {
            return Err(GenerateError::Failed(format!(
                "`{command}` did not finish within {} s",
                TIMEOUT.as_secs()
            )))
        }
        Ok(Err(e)) => {
            return Err(GenerateError::Failed(format!(
                "cannot run {}: {e}",
                binary.path.display()
            )))
        }
        Ok(Ok(output)) => output,
    };
    if !output.status.success() {
        // Only the error stream: the standard output may hold a key.
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .take(ERROR_LINES)
            .collect();
        let said = if lines.is_empty() {
            String::new()
        } else {
            format!(": {}", lines.join(" "))
        };
        return Err(GenerateError::Failed(format!(
            "`{command}` failed on Xray {} ({}){said}",
            binary.version, output.status
        )));
    }
    parse(request, &String::from_utf8_lossy(&output.stdout)).map_err(|missing| {
        GenerateError::Failed(format!(
            "`{command}` of Xray {} printed no `{missing}` line; this version's output is not \
             understood",
            binary.version
        ))
    })
}

fn what(request: &KeyRequest) -> &'static str {
    match request {
        KeyRequest::Mldsa65 => "ML-DSA-65 keys",
        KeyRequest::Mlkem768 => "ML-KEM-768 keys",
        KeyRequest::Vlessenc => "VLESS Encryption keys",
        KeyRequest::Ech { .. } => "ECH keys",
    }
}

/// The core's command line for `request`; an ECH server name must be a host name, which
/// also keeps it from reading as an option.
fn arguments(request: &KeyRequest) -> Result<Vec<String>, GenerateError> {
    let args: Vec<&str> = match request {
        KeyRequest::Mldsa65 => vec!["mldsa65"],
        KeyRequest::Mlkem768 => vec!["mlkem768"],
        KeyRequest::Vlessenc => vec!["vlessenc"],
        KeyRequest::Ech { server_name } => {
            let name = server_name.trim();
            let host_name = !name.is_empty()
                && name.len() <= 253
                && !name.starts_with(['-', '.'])
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
            if !host_name {
                return Err(GenerateError::Invalid(format!(
                    "sni: `{server_name}` is not a host name; give the name clients connect \
                     to, such as example.com"
                )));
            }
            vec!["tls", "ech", "--serverName", name]
        }
    };
    Ok(args.into_iter().map(str::to_owned).collect())
}

/// Reads the generator's output; `Err` names the line that is missing.
fn parse(request: &KeyRequest, out: &str) -> Result<GeneratedKeys, &'static str> {
    let value = |label: &'static str| labelled(out, label).ok_or(label);
    Ok(match request {
        KeyRequest::Mldsa65 => GeneratedKeys::Mldsa65 {
            seed: value("Seed")?,
            verify: value("Verify")?,
        },
        KeyRequest::Mlkem768 => GeneratedKeys::Mlkem768 {
            seed: value("Seed")?,
            client: value("Client")?,
        },
        KeyRequest::Vlessenc => {
            let auths = vless_auths(out);
            if auths.is_empty() {
                return Err("Authentication");
            }
            GeneratedKeys::Vlessenc { auths }
        }
        KeyRequest::Ech { .. } => GeneratedKeys::Ech {
            config_list: value("ECH config list")?,
            server_keys: value("ECH server keys")?,
        },
    })
}

/// The value after `label:`, on the same line or, when that is empty, the next non-empty
/// line (`xray tls ech` puts each value under its label).
fn labelled(out: &str, label: &str) -> Option<String> {
    let mut lines = out.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(rest) = line
            .strip_prefix(label)
            .and_then(|r| r.strip_prefix(':'))
            .map(str::trim)
        else {
            continue;
        };
        let value = if rest.is_empty() {
            lines.find(|l| !l.is_empty())?
        } else {
            rest
        };
        return Some(value.to_owned());
    }
    None
}

/// `Authentication: <label>` blocks, each with its `"decryption": "…"` and
/// `"encryption": "…"` lines; a block missing one of them is left out.
fn vless_auths(out: &str) -> Vec<VlessEncAuth> {
    let mut auths = Vec::new();
    let mut current: Option<(String, Option<String>, Option<String>)> = None;
    let mut finish = |block: Option<(String, Option<String>, Option<String>)>| {
        if let Some((label, Some(decryption), Some(encryption))) = block {
            auths.push(VlessEncAuth {
                label,
                decryption,
                encryption,
            });
        }
    };
    for line in out.lines().map(str::trim) {
        if let Some(label) = line.strip_prefix("Authentication:") {
            finish(current.take());
            current = Some((label.trim().to_owned(), None, None));
        } else if let (Some((key, value)), Some(block)) = (line.split_once(':'), current.as_mut()) {
            let value = Some(value.trim().trim_matches('"').to_owned());
            match key.trim().trim_matches('"') {
                "decryption" => block.1 = value,
                "encryption" => block.2 = value,
                _ => {}
            }
        }
    }
    finish(current);
    auths
}

#[cfg(test)]
mod tests {
    use super::*;

    // What Xray-core prints, from its sources (main/commands/all/mldsa65.go, mlkem768.go,
    // vlessenc.go, tls/ech.go): labels, separators and line breaks exactly as written there.
    const MLDSA65: &str = "Seed: 3QfP1gq2mXQmJ0Gq0aIuP5A6W7m4Kx1y2z3A4B5C6D7\n\
        Verify: mT0zR8dC9yVb1Pq2Wn3Xk4Lj5Hg6Fd7Sa8Qw9Er0Ty1Ui2Op3As4Df5Gh6Jk7Lz8Xc9Vb0Nm";
    const MLKEM768: &str =
        "Seed: kQ2w3e4r5t6y7u8i9o0pAaSsDdFfGgHhJjKkLlZzXxCcVvBbNnMmQqWwEeRrTtYyUuIiOoPp12\n\
        Client: Zm9vYmFyYmF6cXV4Y2xpZW50a2V5bWF0ZXJpYWw\n\
        Hash32: aGFzaDMyb2Z0aGVjbGllbnRrZXk";
    const VLESSENC: &str = "Choose one Authentication to use, do not mix them. Ephemeral key exchange is Post-Quantum safe anyway.\n\n\
        Authentication: X25519, not Post-Quantum\n\
        \"decryption\": \"mlkem768x25519plus.native.600s.cGFzc3dvcmQ\"\n\
        \"encryption\": \"mlkem768x25519plus.native.0rtt.cHVibGlj\"\n\n\
        Authentication: ML-KEM-768, Post-Quantum\n\
        \"decryption\": \"mlkem768x25519plus.native.600s.c2VlZA\"\n\
        \"encryption\": \"mlkem768x25519plus.native.0rtt.Y2xpZW50\"\n";
    const ECH: &str = "ECH config list: \n\
        AEX+DQBBpgAgACBEXAMPLEconfiglistbase64AAQABAAEAEmV4YW1wbGUuY29tAAA=\n\
        ECH server keys: \n\
        ACBkZXhhbXBsZXNlcnZlcmtleXM=\n";

    #[test]
    fn xrays_output_is_read_by_label() {
        assert_eq!(
            parse(&KeyRequest::Mldsa65, MLDSA65),
            Ok(GeneratedKeys::Mldsa65 {
                seed: "3QfP1gq2mXQmJ0Gq0aIuP5A6W7m4Kx1y2z3A4B5C6D7".into(),
                verify: "mT0zR8dC9yVb1Pq2Wn3Xk4Lj5Hg6Fd7Sa8Qw9Er0Ty1Ui2Op3As4Df5Gh6Jk7Lz8Xc9Vb0Nm"
                    .into(),
            })
        );
        assert_eq!(
            parse(&KeyRequest::Mlkem768, MLKEM768),
            Ok(GeneratedKeys::Mlkem768 {
                seed: "kQ2w3e4r5t6y7u8i9o0pAaSsDdFfGgHhJjKkLlZzXxCcVvBbNnMmQqWwEeRrTtYyUuIiOoPp12"
                    .into(),
                client: "Zm9vYmFyYmF6cXV4Y2xpZW50a2V5bWF0ZXJpYWw".into(),
            })
        );
        let ech = KeyRequest::Ech {
            server_name: "example.com".into(),
        };
        assert_eq!(
            parse(&ech, ECH),
            Ok(GeneratedKeys::Ech {
                config_list: "AEX+DQBBpgAgACBEXAMPLEconfiglistbase64AAQABAAEAEmV4YW1wbGUuY29tAAA="
                    .into(),
                server_keys: "ACBkZXhhbXBsZXNlcnZlcmtleXM=".into(),
            })
        );
    }

    #[test]
    fn vlessenc_gives_one_pair_per_authentication() {
        let GeneratedKeys::Vlessenc { auths } = parse(&KeyRequest::Vlessenc, VLESSENC).unwrap()
        else {
            panic!("not vlessenc keys");
        };
        assert_eq!(
            auths,
            [
                VlessEncAuth {
                    label: "X25519, not Post-Quantum".into(),
                    decryption: "mlkem768x25519plus.native.600s.cGFzc3dvcmQ".into(),
                    encryption: "mlkem768x25519plus.native.0rtt.cHVibGlj".into(),
                },
                VlessEncAuth {
                    label: "ML-KEM-768, Post-Quantum".into(),
                    decryption: "mlkem768x25519plus.native.600s.c2VlZA".into(),
                    encryption: "mlkem768x25519plus.native.0rtt.Y2xpZW50".into(),
                },
            ]
        );
    }

    #[test]
    fn output_it_does_not_understand_is_refused_by_the_missing_line() {
        assert_eq!(parse(&KeyRequest::Mldsa65, "Seed: abc"), Err("Verify"));
        // An earlier vlessenc printed `------ decryption (…) ------` headers instead.
        let older = "------ decryption (Authentication: X25519, not Post-Quantum) ------\nabc\n";
        assert_eq!(parse(&KeyRequest::Vlessenc, older), Err("Authentication"));
        // `tls ech --pem` output is not what the panel asks for.
        let pem = "-----BEGIN ECH CONFIGS-----\nAAAA\n-----END ECH CONFIGS-----\n";
        let ech = KeyRequest::Ech {
            server_name: "a.example".into(),
        };
        assert_eq!(parse(&ech, pem), Err("ECH config list"));
    }

    #[test]
    fn an_ech_server_name_must_be_a_host_name() {
        let ech = |name: &str| {
            arguments(&KeyRequest::Ech {
                server_name: name.into(),
            })
        };
        assert_eq!(
            ech(" cdn.example.com ").unwrap(),
            ["tls", "ech", "--serverName", "cdn.example.com"]
        );
        for bad in [
            "",
            "  ",
            "-serverName",
            ".example",
            "a b",
            "exa$mple.com",
            "é.com",
        ] {
            let e = ech(bad).unwrap_err().to_string();
            assert!(e.contains("is not a host name"), "{bad}: {e}");
        }
        assert_eq!(arguments(&KeyRequest::Mldsa65).unwrap(), ["mldsa65"]);
    }
}
