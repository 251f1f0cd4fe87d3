//! The normalised `convox.yml` text of a [`Manifest`]: every default written out.

use std::collections::BTreeMap;

use serde_yaml::{Mapping, Value};

use super::{EnvDecl, Manifest};

/// Renders `manifest` as `convox.yml` text in its normalised form: every default
/// written out, services and timers in order, so that reading it back gives the
/// same manifest.
pub(crate) fn render(manifest: &Manifest) -> String {
    let mut root = Mapping::new();
    let strs = |items: &[String]| -> Value {
        Value::Sequence(items.iter().map(|s| Value::String(s.clone())).collect())
    };
    let env_list = |decls: &[EnvDecl]| -> Value {
        Value::Sequence(
            decls
                .iter()
                .map(|d| Value::String(String::from(d.clone())))
                .collect(),
        )
    };
    let map_of = |m: &BTreeMap<String, String>| -> Value {
        Value::Mapping(
            m.iter()
                .map(|(k, v)| (Value::String(k.clone()), Value::String(v.clone())))
                .collect(),
        )
    };
    let n = |x: u32| Value::Number(x.into());
    let s = |x: &str| Value::String(x.to_string());
    fn entry(m: &mut Mapping, k: &str, v: Value) {
        m.insert(Value::String(k.to_string()), v);
    }

    if !manifest.environment.is_empty() {
        entry(&mut root, "environment", env_list(&manifest.environment));
    }
    if !manifest.params.is_empty() {
        entry(&mut root, "params", map_of(&manifest.params));
    }
    if !manifest.resources.is_empty() {
        let mut rs = Mapping::new();
        for r in &manifest.resources {
            let mut body = Mapping::new();
            entry(&mut body, "type", s(&r.kind));
            entry(&mut body, "options", map_of(&r.options));
            entry(&mut rs, r.name.as_str(), Value::Mapping(body));
        }
        entry(&mut root, "resources", Value::Mapping(rs));
    }
    let mut services = Mapping::new();
    for svc in &manifest.services {
        let mut b = Mapping::new();
        if svc.agent.enabled {
            let ports = svc
                .agent
                .ports
                .iter()
                .map(|p| s(&format!("{}/{}", p.port, p.protocol)))
                .collect();
            let mut a = Mapping::new();
            entry(&mut a, "ports", Value::Sequence(ports));
            entry(&mut b, "agent", Value::Mapping(a));
        } else {
            entry(&mut b, "agent", Value::Bool(false));
        }
        if !svc.build.path.is_empty() {
            let mut build = Mapping::new();
            entry(&mut build, "path", s(&svc.build.path));
            entry(&mut build, "manifest", s(&svc.build.manifest));
            entry(&mut build, "args", strs(&svc.build.args));
            entry(&mut b, "build", Value::Mapping(build));
        }
        if let Some(c) = &svc.command {
            entry(&mut b, "command", strs(c));
        }
        let mut dep = Mapping::new();
        entry(&mut dep, "minimum", n(svc.deployment.minimum));
        entry(&mut dep, "maximum", n(svc.deployment.maximum));
        entry(&mut b, "deployment", Value::Mapping(dep));
        entry(&mut b, "domain", strs(&svc.domains));
        entry(&mut b, "drain", n(svc.drain));
        // A service's list starts with the app-level declarations, which the
        // reader adds back.
        let own = svc
            .environment
            .strip_prefix(manifest.environment.as_slice())
            .unwrap_or(&svc.environment);
        entry(&mut b, "environment", env_list(own));
        let mut h = Mapping::new();
        entry(&mut h, "path", s(&svc.health.path));
        entry(&mut h, "interval", n(svc.health.interval));
        entry(&mut h, "timeout", n(svc.health.timeout));
        entry(&mut h, "grace", n(svc.health.grace));
        entry(&mut b, "health", Value::Mapping(h));
        entry(&mut b, "image", s(&svc.image));
        entry(&mut b, "init", Value::Bool(svc.init));
        entry(&mut b, "internal", Value::Bool(svc.exposure.is_internal()));
        entry(
            &mut b,
            "internalAndExternal",
            Value::Bool(svc.exposure.is_internal_and_external()),
        );
        let links: Vec<String> = svc.links.iter().map(|l| l.to_string()).collect();
        entry(&mut b, "links", strs(&links));
        let nlb = svc
            .nlb
            .iter()
            .map(|p| {
                let mut m = Mapping::new();
                entry(&mut m, "port", n(p.port.into()));
                entry(&mut m, "containerPort", n(p.container_port.into()));
                entry(&mut m, "protocol", s(&p.protocol));
                entry(&mut m, "scheme", s(&p.scheme));
                Value::Mapping(m)
            })
            .collect();
        entry(&mut b, "nlb", Value::Sequence(nlb));
        entry(&mut b, "policies", strs(&svc.policies));
        if let Some(p) = svc.port {
            let mut m = Mapping::new();
            entry(&mut m, "port", n(p.port.into()));
            entry(&mut m, "scheme", s(p.scheme.as_str()));
            entry(&mut b, "port", Value::Mapping(m));
        }
        entry(&mut b, "privileged", Value::Bool(svc.privileged));
        let resources: Vec<String> = svc.resources.iter().map(|r| r.to_string()).collect();
        entry(&mut b, "resources", strs(&resources));
        let sc = &svc.scale;
        let mut count = Mapping::new();
        entry(&mut count, "min", n(sc.count.min));
        entry(&mut count, "max", n(sc.count.max));
        let mut cooldown = Mapping::new();
        entry(&mut cooldown, "down", n(sc.cooldown.down));
        entry(&mut cooldown, "up", n(sc.cooldown.up));
        let mut targets = Mapping::new();
        entry(&mut targets, "cpu", n(sc.targets.cpu));
        entry(&mut targets, "memory", n(sc.targets.memory));
        entry(&mut targets, "requests", n(sc.targets.requests));
        let custom = sc
            .targets
            .custom
            .iter()
            .filter_map(|c| serde_yaml::to_value(c).ok())
            .collect();
        entry(&mut targets, "custom", Value::Sequence(custom));
        let mut scale = Mapping::new();
        entry(&mut scale, "count", Value::Mapping(count));
        entry(&mut scale, "cpu", n(sc.cpu));
        entry(&mut scale, "memory", n(sc.memory));
        entry(&mut scale, "cooldown", Value::Mapping(cooldown));
        entry(&mut scale, "targets", Value::Mapping(targets));
        entry(&mut b, "scale", Value::Mapping(scale));
        entry(&mut b, "singleton", Value::Bool(svc.singleton));
        entry(&mut b, "sticky", Value::Bool(svc.sticky));
        entry(&mut b, "tags", map_of(&svc.tags));
        let mut term = Mapping::new();
        entry(&mut term, "grace", n(svc.termination.grace));
        entry(&mut b, "termination", Value::Mapping(term));
        entry(&mut b, "test", s(&svc.test));
        entry(&mut b, "volumes", strs(&svc.volumes));
        entry(&mut services, svc.name.as_str(), Value::Mapping(b));
    }
    entry(&mut root, "services", Value::Mapping(services));
    if !manifest.timers.is_empty() {
        let mut ts = Mapping::new();
        for t in &manifest.timers {
            let mut body = Mapping::new();
            entry(&mut body, "command", s(&t.command));
            entry(&mut body, "schedule", s(&t.schedule));
            entry(&mut body, "service", s(t.service.as_str()));
            entry(&mut ts, t.name.as_str(), Value::Mapping(body));
        }
        entry(&mut root, "timers", Value::Mapping(ts));
    }
    // Serialising a tree of plain strings, numbers and mappings cannot fail.
    serde_yaml::to_string(&Value::Mapping(root)).unwrap_or_default()
}
