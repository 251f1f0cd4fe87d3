//! A JSON Schema (draft 2020-12) of convox.yml as [`crate::manifest::read()`] reads it,
//! for editors (yaml-language-server, VS Code) and CI.
//!
//! Built from the reader's own lists of keys ([`crate::manifest::keys`]), its defaults
//! ([`crate::manifest::defaults`]) and AWS's ranges ([`crate::rules::ranges`]): every key
//! the reader knows is described here, with each shorthand form it accepts,
//! and every mapping refuses other keys (`additionalProperties: false`) where
//! the reader warns about them.
//!
//! ```
//! let s = convox_model::schema::schema();
//! assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
//! assert!(s["$defs"]["service"]["properties"]["port"].is_object());
//! ```

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use serde_json::{Map, Value, json};

use crate::diag::Diagnostics;
use crate::manifest::{Scheme, defaults, keys, yaml};
use crate::rules::ranges;

/// The schema's `$id`.
pub const ID: &str = "https://convox.example/schemas/convox.yml.json";

/// A name: a lowercase DNS label, at most 63 characters.
const NAME_PATTERN: &str = "^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$";

/// The words YAML 1.1 (and so Convox v2) reads as booleans when written plain;
/// YAML 1.2 tools see them as strings.
const YAML11_BOOLS: &[&str] = &[
    "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE", "n", "N", "no", "No",
    "NO", "off", "Off", "OFF", "false", "False", "FALSE",
];

/// The JSON Schema of convox.yml.
pub fn schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": ID,
        "title": "convox.yml",
        "description": "A Convox v2 app manifest: its services, timers, resources and environment.",
        "type": ["object", "null"],
        "properties": object(keys::TOP, top),
        "additionalProperties": false,
        "$defs": {
            "service": {
                "type": ["object", "null"],
                "description": "A service: an image or a build, and how it runs, scales and is routed.",
                "properties": object(keys::SERVICE, service),
                "additionalProperties": false
            },
            "environment": {
                "description": "Environment declarations: KEY=default, KEY (the app must set it) or * (every variable of the app environment); nested lists are flattened.",
                "type": ["array", "null"],
                "items": {
                    "anyOf": [
                        env_item(),
                        {"type": "array", "items": env_item()}
                    ]
                }
            },
            "boolean": {
                "description": "true or false; plain yes/no/on/off/y/n (any case form) as YAML 1.1 reads them.",
                "anyOf": [{"type": "boolean"}, {"enum": YAML11_BOOLS}, {"type": "null"}]
            },
            "scalars": {
                "type": ["object", "null"],
                "additionalProperties": {"type": ["string", "number", "boolean"]}
            },
            "strings": {
                "type": ["array", "null"],
                "items": {"type": ["string", "number", "boolean"]}
            },
            "count": {
                "description": "Instances: a count (2), a range (1-3) or {min, max}.",
                "anyOf": [
                    {"type": "integer", "minimum": 0},
                    {"type": "string", "pattern": "^ *[0-9]+ *(- *[0-9]+ *)?$"},
                    {
                        "type": "object",
                        "properties": object(keys::COUNT, |k| Some(described(int(0, None), match k {
                            "min" => "Fewest instances.",
                            "max" => "Most instances.",
                            _ => return None,
                        }))),
                        "additionalProperties": false
                    }
                ]
            }
        }
    })
}

/// `convox.yml` text as the JSON instance the schema describes: YAML with
/// merge keys applied, `${VAR}` interpolated from `env`; its diagnostics when
/// it is not YAML (or past the input limits).
pub fn instance(text: &str, env: &BTreeMap<String, String>) -> Result<Value, Diagnostics> {
    let doc = yaml::load(text, env)?;
    serde_json::to_value(&doc.value).map_err(|e| {
        let mut d = Diagnostics::default();
        d.push(crate::diag::Diagnostic::error(
            "",
            format!("convox.yml has a value JSON cannot hold: {e}"),
        ));
        d
    })
}

/// `{key: schema(key)}` for every key of `known`; a key without a schema is
/// described as anything, so a key added to the reader still appears.
fn object(known: &[&str], each: impl Fn(&str) -> Option<Value>) -> Map<String, Value> {
    known
        .iter()
        .map(|k| (k.to_string(), each(k).unwrap_or_else(|| json!({}))))
        .collect()
}

fn described(mut v: Value, description: &str) -> Value {
    if let Value::Object(m) = &mut v {
        m.insert("description".to_string(), json!(description));
    }
    v
}

fn int(min: u32, max: Option<u32>) -> Value {
    let mut v = json!({"type": "integer", "minimum": min});
    if let (Some(max), Value::Object(m)) = (max, &mut v) {
        m.insert("maximum".to_string(), json!(max));
    }
    v
}

/// 0 (v2's default) or a number in AWS's `range`.
fn zero_or(range: &RangeInclusive<u32>) -> Value {
    json!({
        "type": "integer",
        "anyOf": [{"const": 0}, {"minimum": range.start(), "maximum": range.end()}]
    })
}

fn reference(def: &str) -> Value {
    json!({"$ref": format!("#/$defs/{def}")})
}

fn env_item() -> Value {
    json!({"type": "string", "pattern": "^(\\*|[^=\\s]+(=.*)?)$"})
}

/// A list of names (services, resources), or nothing.
fn name_list(description: &str) -> Value {
    json!({
        "description": description,
        "type": ["array", "null"],
        "items": {"type": "string", "pattern": NAME_PATTERN}
    })
}

fn names(of: Value, description: &str) -> Value {
    json!({
        "description": description,
        "type": ["object", "null"],
        "propertyNames": {"pattern": NAME_PATTERN},
        "additionalProperties": of
    })
}

fn top(key: &str) -> Option<Value> {
    Some(match key {
        "environment" => described(
            reference("environment"),
            "App-level environment, given to every service before its own.",
        ),
        "params" => described(reference("scalars"), "App parameters, as strings."),
        "resources" => names(
            json!({
                "type": ["object", "null"],
                "properties": object(keys::RESOURCE, |k| Some(match k {
                    "type" => json!({"type": "string", "minLength": 1, "description": "The resource's type, such as postgres."}),
                    "options" => described(reference("scalars"), "The resource's options, as strings."),
                    _ => return None,
                })),
                "required": ["type"],
                "additionalProperties": false
            }),
            "Resources of the app, such as databases, by name.",
        ),
        "services" => names(reference("service"), "The app's services, by name."),
        "timers" => {
            let mut props = object(keys::TIMER, |k| {
                Some(match k {
                    "command" => {
                        json!({"type": "string", "description": "The command the timer runs."})
                    }
                    "schedule" => {
                        json!({"type": "string", "description": "Its cron schedule, such as \"0 3 * * ?\"."})
                    }
                    "service" => {
                        json!({"type": "string", "pattern": NAME_PATTERN, "description": "The service whose image and environment it runs with."})
                    }
                    _ => return None,
                })
            });
            for k in keys::TIMER_IGNORED {
                props.insert(
                    k.to_string(),
                    json!({"description": "Read by Convox v2; not acted on here."}),
                );
            }
            names(
                json!({
                    "type": "object",
                    "properties": props,
                    "required": keys::TIMER,
                    "additionalProperties": false
                }),
                "Timers: commands run on a schedule with a service's image, by name.",
            )
        }
        _ => return None,
    })
}

fn service(key: &str) -> Option<Value> {
    let flag = |d: &str| described(reference("boolean"), d);
    let port_number = int(*ranges::PORT.start(), Some(*ranges::PORT.end()));
    Some(match key {
        "agent" => json!({
            "description": "Run one instance on every host: true, or {ports: [8125/udp, 8126]}.",
            "anyOf": [
                reference("boolean"),
                {
                    "type": "object",
                    "properties": object(keys::AGENT, |k| Some(match k {
                        "enabled" => reference("boolean"),
                        "ports" => json!({
                            "type": ["array", "null"],
                            "items": {"anyOf": [
                                port_number.clone(),
                                {"type": "string", "pattern": "^ *[0-9]+(/([tT][cC][pP]|[uU][dD][pP]))?$"}
                            ]}
                        }),
                        _ => return None,
                    })),
                    "additionalProperties": false
                }
            ]
        }),
        "build" => json!({
            "description": "Build the image: a directory (build: .), or {path, manifest, args}.",
            "anyOf": [
                {"type": ["string", "null"]},
                {
                    "type": "object",
                    "properties": object(keys::BUILD, |k| Some(match k {
                        "path" => json!({"type": "string", "description": "The build context (default .)."}),
                        "manifest" => json!({"type": "string", "description": "The Dockerfile (default Dockerfile)."}),
                        "args" => described(reference("strings"), "Build args, KEY=VALUE or KEY."),
                        _ => return None,
                    })),
                    "additionalProperties": false
                }
            ]
        }),
        "command" => json!({
            "description": "The command: a string (run with sh -c) or a list of strings.",
            "anyOf": [{"type": ["string", "null"]}, {"type": "array", "items": {"type": "string"}}]
        }),
        "deployment" => json!({
            "description": "Deployment percentages (default 50/200, or 0/100 for agents and singletons).",
            "type": ["object", "null"],
            "properties": object(keys::DEPLOYMENT, |k| Some(match k {
                "minimum" => described(int(0, Some(100)), "Minimum healthy percent during a deploy."),
                "maximum" => described(int(1, None), "Maximum percent running during a deploy."),
                _ => return None,
            })),
            "additionalProperties": false
        }),
        "domain" => json!({
            "description": "Custom domains: a comma-separated string or a list.",
            "anyOf": [{"type": ["string", "null"]}, {"type": "array", "items": {"type": "string"}}]
        }),
        "drain" => described(
            int(*ranges::DRAIN.start(), Some(*ranges::DRAIN.end())),
            &format!(
                "Seconds to drain connections on stop (0 or unwritten: {}).",
                defaults::DRAIN
            ),
        ),
        "environment" => described(
            reference("environment"),
            "The service's own environment declarations, after the app's.",
        ),
        "health" => json!({
            "description": format!(
                "The health check: a path (health: /check), or {{path, interval, timeout, grace}}. Defaults: path {}, interval {}, timeout interval - 1, grace the interval; 0 means the default.",
                defaults::HEALTH_PATH,
                defaults::HEALTH_INTERVAL
            ),
            "anyOf": [
                health_path(),
                {
                    "type": "object",
                    "properties": object(keys::HEALTH, |k| Some(match k {
                        "path" => health_path(),
                        "interval" => described(zero_or(&ranges::HEALTH_INTERVAL), "Seconds between checks."),
                        "timeout" => described(zero_or(&ranges::HEALTH_TIMEOUT), "Seconds before a check fails; below the interval."),
                        "grace" => described(int(*ranges::HEALTH_GRACE.start(), Some(*ranges::HEALTH_GRACE.end())), "Seconds after start before checks count."),
                        _ => return None,
                    })),
                    "additionalProperties": false
                },
                {"type": "null"}
            ]
        }),
        "image" => {
            json!({"type": ["string", "number", "boolean", "null"], "description": "The image to run instead of (or besides) building one."})
        }
        "init" => flag("Run an init process in the container."),
        "internal" => flag(
            "Route the service on the rack's internal router only (the rack needs Internal=Yes).",
        ),
        "internalAndExternal" => flag("Route the service on both routers (implies internal)."),
        "links" => name_list("Services whose URLs this one gets in its environment."),
        "nlb" => json!({
            "description": "Network load balancer ports: a port number, or {port, containerPort, protocol, scheme}.",
            "type": ["array", "null"],
            "items": {"anyOf": [
                port_number.clone(),
                {
                    "type": "object",
                    "properties": object(keys::NLB, |k| Some(match k {
                        "port" => port_number.clone(),
                        "containerPort" => described(int(0, Some(*ranges::PORT.end())), "The container's port (0 or unwritten: the port)."),
                        "protocol" => json!({"type": "string", "description": "tcp or tls."}),
                        "scheme" => json!({"type": "string", "description": "public or internal."}),
                        _ => return None,
                    })),
                    "required": ["port"],
                    "additionalProperties": false
                }
            ]}
        }),
        "policies" => described(
            reference("strings"),
            "IAM policy ARNs for the service's role.",
        ),
        "port" => {
            let schemes = Scheme::ALL
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("|");
            let string_port =
                json!({"type": "string", "pattern": format!("^(({schemes}):)?[0-9]+$")});
            json!({
                "description": "The port the service listens on: 3000, https:3000, or {port, scheme}; schemes http (default), https, grpc, secure-grpc.",
                "anyOf": [
                    port_number.clone(),
                    string_port.clone(),
                    {
                        "type": "object",
                        "properties": object(keys::PORT, |k| Some(match k {
                            "port" => json!({"anyOf": [port_number.clone(), string_port.clone()]}),
                            "scheme" => json!({"enum": Scheme::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>()}),
                            _ => return None,
                        })),
                        "required": ["port"],
                        "additionalProperties": false
                    },
                    {"type": "null"}
                ]
            })
        }
        "privileged" => flag("Run the container privileged."),
        "resources" => name_list("Resources (of resources:) the service uses."),
        "scale" => json!({
            "description": format!(
                "Scale: a count (2), a range (1-3), or {{count, cpu, memory, cooldown, targets}}. Defaults: count 1, cpu {}, memory {}, cooldowns 60 s.",
                defaults::CPU,
                defaults::MEMORY
            ),
            "anyOf": [
                reference("count"),
                {
                    "type": "object",
                    "properties": object(keys::SCALE, |k| Some(match k {
                        "count" => reference("count"),
                        "cpu" => described(int(0, None), &format!("CPU units (0: {}).", defaults::CPU)),
                        "memory" => described(int(0, None), &format!("Memory in MiB (0: {}).", defaults::MEMORY)),
                        "cooldown" => json!({
                            "description": "Autoscaling cooldowns in seconds: one number, or {down, up}.",
                            "anyOf": [
                                int(0, None),
                                {
                                    "type": "object",
                                    "properties": object(keys::COOLDOWN, |_| Some(int(0, None))),
                                    "additionalProperties": false
                                }
                            ]
                        }),
                        "targets" => json!({
                            "description": "Autoscaling targets.",
                            "type": ["object", "null"],
                            "properties": object(keys::TARGETS, |k| Some(match k {
                                "custom" => json!({"description": "Custom metrics, kept as written."}),
                                _ => int(0, None),
                            })),
                            "additionalProperties": false
                        }),
                        _ => return None,
                    })),
                    "additionalProperties": false
                },
                {"type": "null"}
            ]
        }),
        "singleton" => flag("At most one instance, stopped before a new one starts."),
        "sticky" => flag("Sticky sessions (default true)."),
        "tags" => described(reference("scalars"), "Tags for the service's resources."),
        "termination" => json!({
            "description": "Termination: grace, the seconds between SIGTERM and SIGKILL (default 30).",
            "type": ["object", "null"],
            "properties": object(keys::TERMINATION, |_| Some(int(0, None))),
            "additionalProperties": false
        }),
        "test" => {
            json!({"type": ["string", "null"], "description": "The command convox test runs."})
        }
        "volumes" => described(reference("strings"), "Volumes to mount."),
        _ => return None,
    })
}

fn health_path() -> Value {
    json!({
        "description": "The path checked; starts with / (empty: /).",
        "anyOf": [
            {"const": ""},
            {"type": "string", "pattern": "^/", "maxLength": ranges::HEALTH_PATH_MAX_LEN}
        ]
    })
}
