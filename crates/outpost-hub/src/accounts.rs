//! Creating users: one path for the API, the command line, `init` and the demo.

use serde_json::json;

use outpost_domain::audit::{Actor, Outcome};
use outpost_domain::tenant::Tenant;
use outpost_domain::user::{Member, check_full_name, check_password, normalize_email};
use outpost_domain::{ErrorCode, Role, UserId};
use outpost_store::{Store, StoreError, UserRecord};

use crate::error::ApiError;
use crate::passwords::PasswordWork;

/// A user to create.
pub struct NewAccount {
    pub email: String,
    pub full_name: String,
    pub role: Role,
    pub password: String,
}

/// What to do when the e-mail already belongs to a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExistingEmail {
    /// Answer 409 (the API: a tenant admin must not learn about other tenants' users).
    Refuse,
    /// Give the existing user a role here, keeping their password (the operator's CLI).
    AddMembership,
}

/// Checks and creates a user with a role in `tenant` (`None`: the platform scope). The
/// event goes to the central audit chain in the same transaction.
pub async fn add_member(
    store: &dyn Store,
    passwords: &PasswordWork,
    tenant: Option<&Tenant>,
    new: NewAccount,
    existing: ExistingEmail,
    actor: &Actor,
) -> Result<Member, ApiError> {
    let email = normalize_email(&new.email)?;
    check_full_name(&new.full_name)?;
    match tenant {
        Some(t) if !new.role.fits_tenant(t.kind) => {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                format!("role: {} is not a role in a {} tenant", new.role, t.kind),
            ));
        }
        None if new.role != Role::PlatformAdmin => {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                "role: only platform_admin exists outside a tenant",
            ));
        }
        _ => {}
    }
    let tenant_id = tenant.map(|t| t.id);
    let central = store.central();
    if let Some(user) = central.user_by_email(&email).await? {
        if existing == ExistingEmail::Refuse {
            return Err(StoreError::AlreadyExists("email").into());
        }
        let event = actor
            .event("user.membership_add", Outcome::Success)
            .entity("user", user.id)
            .details(json!({ "tenant_id": tenant_id, "role": new.role }));
        return Ok(central
            .add_membership(user.id, tenant_id, new.role, event)
            .await?);
    }
    check_password(&new.password)?;
    let password_hash = passwords.hash(&new.password).await?;
    let user = UserRecord {
        id: UserId::generate(),
        email,
        full_name: new.full_name.trim().to_owned(),
        password_hash,
        disabled: false,
        created_at: actor.at,
    };
    let mut event = actor
        .event("user.create", Outcome::Success)
        .entity("user", user.id)
        .details(json!({ "email": user.email, "tenant_id": tenant_id, "role": new.role }));
    event.tenant_id = tenant_id;
    Ok(central
        .create_user(&user, tenant_id, new.role, event)
        .await?)
}
