//! A plan for people: grouped by app and service, like a careful `terraform plan`.

use std::collections::BTreeMap;
use std::fmt;

use super::{Action, Op, Plan};
use crate::resource::{DefaultAction, ResourceSpec};

/// One line describing what a resource is, for the rendering of a create.
pub(super) fn describe(spec: &ResourceSpec) -> String {
    match spec {
        ResourceSpec::SecurityGroup(sg) => {
            let rules: Vec<String> = sg
                .ingress
                .iter()
                .map(|r| format!("{}/{} from {}", r.protocol, r.port, r.cidr))
                .collect();
            format!("{} ({})", sg.name, rules.join(", "))
        }
        ResourceSpec::LoadBalancer(lb) => format!("{} ({})", lb.name, lb.scheme.as_str()),
        ResourceSpec::Listener(l) => {
            let action = match &l.default_action {
                DefaultAction::Redirect { port, status_code } => {
                    format!("redirect to HTTPS:{port} ({status_code})")
                }
                DefaultAction::FixedResponse {
                    status_code, body, ..
                } => format!("fixed {status_code} {body:?}"),
            };
            let cert = l
                .certificate
                .as_ref()
                .map(|c| format!(", certificate {c}"))
                .unwrap_or_default();
            format!("{} {}: {action}{cert}", l.protocol.as_str(), l.port)
        }
        // A shared certificate (issue 9): its apps' wildcards too, the first few.
        ResourceSpec::Certificate(c) if !c.names.is_empty() => {
            let shown: Vec<&str> = c.names.iter().take(3).map(String::as_str).collect();
            let more = match c.names.len() {
                n if n > 3 => format!(" … ({n} names)"),
                _ => String::new(),
            };
            format!("{} and {}{more}", c.domain, shown.join(", "))
        }
        ResourceSpec::Certificate(c) => c.domain.clone(),
        ResourceSpec::ListenerCertificate(lc) => format!("{} on {}", lc.certificate, lc.listener),
        ResourceSpec::TargetGroup(tg) => format!(
            "{} ({}:{}, health {} every {}s)",
            tg.name,
            tg.protocol.as_str(),
            tg.port,
            tg.health.path,
            tg.health.interval
        ),
        ResourceSpec::ListenerRule(r) => format!(
            "host {} -> {} (priority {})",
            r.hosts.join(", "),
            r.target_group,
            r.priority.map_or("?".to_string(), |p| p.to_string())
        ),
        ResourceSpec::HostedZone(z) => format!("{} (private, {})", z.name, z.vpc_id),
        ResourceSpec::Record(r) => format!("{} ALIAS {}", r.name, r.load_balancer),
    }
}

impl fmt::Display for Plan {
    /// Renders like a careful `terraform plan`: grouped by app and service, each
    /// action with its marker, what changes, and how it disrupts traffic.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.actions.is_empty() {
            writeln!(f, "No changes.")?;
            return claims(self, f);
        }
        let mut groups: BTreeMap<(Option<&str>, Option<&str>), Vec<&Action>> = BTreeMap::new();
        for a in &self.actions {
            groups.entry((a.app(), a.service())).or_default().push(a);
        }
        for ((app, service), actions) in groups {
            match (app, service) {
                (None, _) => writeln!(f, "rack")?,
                (Some(app), None) => writeln!(f, "app {app}")?,
                (Some(app), Some(service)) => writeln!(f, "app {app}, service {service}")?,
            }
            for a in actions {
                // A renewal reads as one: what is renewed and when it expires.
                if a.is_renewal() {
                    render_renewal(f, a)?;
                    continue;
                }
                writeln!(f, "  {} {} {}", a.op.marker(), a.kind, a.key)?;
                match a.op {
                    Op::Create => {
                        if let Some(r) = &a.desired {
                            writeln!(f, "      {}", describe(&r.spec))?;
                        }
                    }
                    Op::Delete => {
                        if let Some(o) = &a.current {
                            writeln!(f, "      {} ({})", describe(&o.resource.spec), o.id)?;
                        }
                    }
                    Op::Update | Op::Replace => {
                        for c in &a.changes {
                            let forces = if c.forces_replacement {
                                "  # forces replacement"
                            } else {
                                ""
                            };
                            writeln!(f, "      {}: {} -> {}{forces}", c.field, c.from, c.to)?;
                        }
                    }
                }
                if let Some(reason) = &a.reason {
                    writeln!(f, "      because {reason}")?;
                }
                if let Some(pool) = pool_note(a) {
                    writeln!(f, "      ({pool})")?;
                }
                if let Some(note) = a.disruption.note() {
                    writeln!(f, "      ({note})")?;
                }
            }
        }
        let c = self.counts();
        writeln!(
            f,
            "\nPlan: {} to create, {} to update, {} to replace, {} to delete.",
            c.create, c.update, c.replace, c.delete
        )?;
        claims(self, f)
    }
}

/// What adding or removing a load balancer of a router's pool means, for
/// people ([`crate::pool`]).
fn pool_note(a: &Action) -> Option<String> {
    let crate::resource::KeySubject::RouterLoadBalancer(shard) = a.key.subject() else {
        return None;
    };
    if shard.is_first() {
        return None;
    }
    match a.op {
        Op::Create => Some(format!(
            "the {} router's load balancers have no room for this app: load balancer {} of its pool",
            shard.router, shard.index
        )),
        Op::Delete => Some(format!(
            "nothing is routed on load balancer {} of the {} router's pool any more",
            shard.index, shard.router
        )),
        Op::Update | Op::Replace => None,
    }
}

/// The keys claimed by resources that are not ours: left untouched, said once.
fn claims(plan: &Plan, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for c in &plan.duplicate_claims {
        let kept = c
            .kept
            .as_deref()
            .map_or(String::new(), |k| format!("; convox's is {k}"));
        writeln!(
            f,
            "Note: {} {} is also claimed by {} (tags copied{kept}); left untouched",
            c.kind,
            c.key,
            c.others.join(", ")
        )?;
    }
    Ok(())
}

/// `~ renew certificate app/backend/cert (expires 2027-12-02)`, why, and how it
/// affects traffic (issue 12).
fn render_renewal(f: &mut fmt::Formatter<'_>, a: &Action) -> fmt::Result {
    let expires = a
        .current
        .as_ref()
        .and_then(|o| o.not_after)
        .map(|t| format!(" (expires {})", crate::renew::date(t)))
        .unwrap_or_default();
    writeln!(f, "  {} renew {} {}{expires}", a.op.marker(), a.kind, a.key)?;
    if let Some(reason) = &a.reason {
        writeln!(f, "      because {reason}")?;
    }
    writeln!(
        f,
        "      (no disruption: re-imported in place, same ARN and listeners; new connections get the renewed certificate)"
    )
}
