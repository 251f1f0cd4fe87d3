//! How the external router's public certificate is shown: in `plan`, `deploy`
//! and `rack params set` (see `convox_model::public_cert`).

use convox_model::exposure::Endpoint;
use convox_model::public_cert::ExternalCertificate;

use crate::Io;

/// Prints where the external router's certificate is, unless it is issued (or
/// there is no external router): the request a deploy makes, or the wait, the
/// validation CNAME(s) to publish and the endpoints waiting.
pub fn print_waiting(io: &mut Io<'_>, external: &ExternalCertificate, waiting: &[Endpoint]) {
    match external {
        ExternalCertificate::NotNeeded | ExternalCertificate::Issued { .. } => return,
        ExternalCertificate::NotRequested { domain } => {
            let _ = writeln!(
                io.out,
                "\nExternal certificate: + request certificate {domain} from ACM (DNS validation); external endpoints wait for it"
            );
        }
        ExternalCertificate::Pending {
            certificate,
            supplied,
        } => {
            let whose = if *supplied {
                "your"
            } else {
                "the rack's requested"
            };
            let _ = writeln!(
                io.out,
                "\nExternal certificate: waiting for {whose} certificate {} ({}) to be issued: {}",
                certificate.arn, certificate.domain, certificate.status
            );
            if !certificate.validation.is_empty() {
                let _ = writeln!(
                    io.out,
                    "Publish these DNS records where {} is hosted; ACM issues the certificate once it sees them:",
                    certificate.domain.trim_start_matches("*.")
                );
                for r in &certificate.validation {
                    let _ = writeln!(io.out, "  {} CNAME {}", r.name, r.value);
                }
            }
        }
        // A state this version does not know: nothing to say of it.
        _ => return,
    }
    for e in waiting {
        let _ = writeln!(
            io.out,
            "  {} ({}): waiting for the certificate; the next deploy after it is issued serves it",
            e.service,
            e.url()
        );
    }
}
