//! Tenants as the API shows them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::ids::TenantId;
use crate::roles::TenantKind;

/// Whether a tenant may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    Active,
    Suspended,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
        }
    }

    /// The audit action of putting a tenant in this status.
    pub fn change_action(self) -> &'static str {
        match self {
            TenantStatus::Active => "tenant.resume",
            TenantStatus::Suspended => "tenant.suspend",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Tenant {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub kind: TenantKind,
    pub status: TenantStatus,
    /// Set while the tenant's database is being moved to another server: reads are served,
    /// changes are refused (503) and wait in the clients' outboxes.
    #[serde(default)]
    pub read_only: bool,
    pub created_at: DateTime<Utc>,
}

/// `POST /v1/tenants` and `outpost-hub tenant create`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    pub slug: String,
    pub name: String,
    pub kind: TenantKind,
}

impl NewTenant {
    /// Slugs are lowercase ASCII letters, digits and '-', 2 to 63 long: they appear in
    /// logins, file names of backups and PostgreSQL database names.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let slug_ok = (2..=63).contains(&self.slug.len())
            && self
                .slug
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !self.slug.starts_with('-')
            && !self.slug.ends_with('-');
        if !slug_ok {
            return Err(ValidationError::new(
                "slug",
                "must be 2 to 63 lowercase letters, digits or '-', not starting or ending with '-'",
            ));
        }
        crate::text::check_line("name", &self.name)?;
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(ValidationError::new("name", "must be 1 to 200 characters"));
        }
        Ok(())
    }
}
