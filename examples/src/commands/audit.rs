//! `rack audit`: who can reach what on the rack, and what is wrong, from what
//! the backend reports alone.

use convox_model::audit::{AuditReport, Ingress, audit};
use convox_model::observe::observe_all;

use super::Cx;
use crate::Io;
use crate::cli::AuditArgs;
use crate::exit::{EXIT_INVALID, Exit, fail, report_error};
use crate::progress::now;

/// `convox rack audit -r R [--json]`: exit 0 when nothing is found wrong, 1
/// otherwise (the findings printed, or in the JSON's `findings`).
pub fn rack_audit(a: &AuditArgs, Cx { given, s, io }: Cx<'_, '_>) -> Result<(), Exit> {
    let name = given.rack(io)?;
    let Some(rack) = s.stored_rack(&name, io)? else {
        return Err(fail(
            io,
            format!(
                "rack {name} has not been set up yet: nothing to audit (convox rack params set K=V --rack {name} creates it)"
            ),
        ));
    };
    let backend = s.backend(io)?.backend.clone();
    let read = s.rt.block_on(async {
        let observed = observe_all(backend.as_ref(), &name).await?;
        let surroundings = backend.observe_surroundings(&name).await?;
        Ok::<_, convox_model::backend::BackendError>((observed, surroundings))
    });
    let (observed, surroundings) = read.map_err(|e| report_error(io, &e))?;
    let report = audit(&rack, &observed, &surroundings, now(&given.env));
    if a.json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => {
                let _ = writeln!(io.out, "{text}");
            }
            Err(e) => return Err(report_error(io, &e)),
        }
    } else {
        print_report(&report, io);
    }
    if report.is_clean() {
        Ok(())
    } else {
        Err(Exit(EXIT_INVALID))
    }
}

fn ingress_line(i: &Ingress) -> String {
    let port = if i.port == 0 {
        "*".to_string()
    } else {
        i.port.to_string()
    };
    format!(
        "{}/{port} from {} ({})",
        i.protocol, i.source, i.security_group
    )
}

fn print_report(r: &AuditReport, io: &mut Io<'_>) {
    let _ = writeln!(io.out, "Rack {} (VPC {})", r.rack, r.vpc_cidr);
    for router in &r.routers {
        let _ = writeln!(
            io.out,
            "router {} {} ({}), security groups {}",
            router.router,
            router.load_balancer,
            router.scheme.as_str(),
            router.security_groups.join(", ")
        );
        for i in &router.ingress {
            let _ = writeln!(io.out, "  admits {}", ingress_line(i));
        }
    }
    for e in &r.endpoints {
        let router = e.router.map_or("?", |r| r.as_str());
        let scheme = e.scheme.map_or("?", |s| s.as_str());
        let record = e.record.as_ref().map_or_else(
            || "no record".to_string(),
            |rec| format!("record aliases {}", rec.aliases),
        );
        let _ = writeln!(
            io.out,
            "endpoint https://{} on the {router} router ({scheme}), {record}",
            e.hostname
        );
    }
    if r.findings.is_empty() {
        let _ = writeln!(io.out, "No findings.");
    } else {
        let _ = writeln!(io.out, "{} findings:", r.findings.len());
        for f in &r.findings {
            let _ = writeln!(io.out, "  {}: {f}", f.kind());
        }
    }
}
