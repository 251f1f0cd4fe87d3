//! `rack ca rotate`: the rack moves to a new certificate authority on purpose.

use std::sync::Arc;

use convox_model::ca::{CaError, rotate_ca};

use super::Cx;
use crate::cli::RotateArgs;
use crate::exit::{Exit, report_error};
use crate::progress::{context, now, with_progress};
use crate::session::{check_authority, origin, read_authority};

/// `convox rack ca rotate --rack R --new-ca FILE`.
pub fn rotate(a: &RotateArgs, Cx { given, s, io }: Cx<'_, '_>) -> Result<(), Exit> {
    let name = given.rack(io)?;
    // Checked before a new authority is generated for a rack that has none.
    if s.stored_rack(&name, io)?.is_none() {
        return Err(report_error(io, &CaError::NoRack { rack: name }));
    }
    let path = given.env.path(&a.new_ca);
    let now = now(&given.env);
    let ca = match read_authority(&path, io)? {
        Some(ca) => ca,
        None => s.generate_authority(&name, &path, now, io)?,
    };
    check_authority(&ca, &name, io)?;
    let fingerprint = ca.fingerprint().to_string();
    let backend = s.backend(io)?.backend.clone();
    let ctx = context(&name, now).with_issuer(Arc::new(ca));
    let _ = writeln!(
        io.err,
        "Rotating rack {name} to certificate authority {fingerprint}; clients should trust both the old and the new one until this finishes."
    );
    let from = origin(&path);
    let rack = &name;
    let result =
        s.rt.block_on(with_progress(&mut *io.err, ctx, |ctx| async move {
            rotate_ca(backend.as_ref(), rack, &ctx, &from).await
        }));
    let persisted = s.persist(io);
    let rotation = result.map_err(|e| report_error(io, &e))?;
    persisted?;
    let old = rotation.from.as_deref().unwrap_or("(none recorded)");
    let _ = writeln!(
        io.out,
        "Rack {name}: certificate authority rotated from {old} to {fingerprint}; {} certificates re-issued.",
        rotation.reissued()
    );
    let _ = writeln!(
        io.out,
        "Every later command needs the new authority: --ca {} (or move it to the default place). The old one is refused from now on; clients may stop trusting it.",
        path.display()
    );
    Ok(())
}
