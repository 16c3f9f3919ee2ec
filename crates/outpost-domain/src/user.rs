//! Users and their memberships as tenant admins manage them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::ids::{TenantId, UserId};
use crate::roles::Role;

/// Minimum password length (DESIGN.md: at least 12 characters).
pub const MIN_PASSWORD_CHARS: usize = 12;

/// A user as seen within one tenant: the person plus their role there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Member {
    pub id: UserId,
    pub email: String,
    pub full_name: String,
    pub tenant_id: Option<TenantId>,
    pub role: Role,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

/// `POST /v1/users`: creates a user in the caller's tenant.
#[derive(Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: String,
    pub full_name: String,
    pub role: Role,
    pub password: String,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// `PATCH /v1/users/{id}`: every field optional.
#[derive(Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default)]
    pub full_name: Option<String>,
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub disabled: Option<bool>,
    #[serde(default)]
    pub password: Option<String>,
}

/// Normalises an e-mail address for lookup (trimmed, lowercase) and checks its shape.
pub fn normalize_email(email: &str) -> Result<String, ValidationError> {
    crate::text::check_line("email", email)?;
    let email = email.trim().to_lowercase();
    let ok = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
        && !email.contains(char::is_whitespace);
    if ok {
        Ok(email)
    } else {
        Err(ValidationError::new("email", "is not an e-mail address"))
    }
}

/// Checks a new password against the policy.
pub fn check_password(password: &str) -> Result<(), ValidationError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(ValidationError::new(
            "password",
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if chars > 1024 {
        return Err(ValidationError::new(
            "password",
            "must be at most 1024 characters",
        ));
    }
    Ok(())
}

/// Checks a display name.
pub fn check_full_name(name: &str) -> Result<(), ValidationError> {
    crate::text::check_line("full_name", name)?;
    let chars = name.trim().chars().count();
    if chars == 0 || chars > 200 {
        return Err(ValidationError::new(
            "full_name",
            "must be 1 to 200 characters",
        ));
    }
    Ok(())
}
