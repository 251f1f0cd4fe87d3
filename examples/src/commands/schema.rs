//! `schema`: the JSON Schema of convox.yml, as the library reads it.

use convox_model::schema::schema as json_schema;

use crate::Io;
use crate::exit::{Exit, report_error};

/// `convox schema`: the schema, pretty-printed JSON on stdout.
pub fn schema(io: &mut Io<'_>) -> Result<(), Exit> {
    let s = serde_json::to_string_pretty(&json_schema()).map_err(|e| report_error(io, &e))?;
    let _ = writeln!(io.out, "{s}");
    Ok(())
}
