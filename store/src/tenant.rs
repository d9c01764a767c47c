//! Tenant ids from the `X-Scope-OrgID` header, validated as Loki validates them.

/// The tenant used for everything when auth is disabled, as in Loki.
pub const NO_AUTH_TENANT: &str = "fake";

/// Why a request has no usable tenant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    /// Auth is enabled and the header is missing (401).
    #[error("no org id")]
    Missing,
    /// The header names several tenants, which only some queries accept (400).
    #[error("multiple org IDs present")]
    Multiple,
    /// The id is malformed (400).
    #[error("{0}")]
    Invalid(String),
}

/// Resolves the tenant of a request from its `X-Scope-OrgID` header value.
pub fn resolve_tenant(header: Option<&str>, auth_enabled: bool) -> Result<String, TenantError> {
    if !auth_enabled {
        return Ok(NO_AUTH_TENANT.to_string());
    }
    let raw = header.map(str::trim).filter(|s| !s.is_empty()).ok_or(TenantError::Missing)?;
    if raw.contains('|') {
        return Err(TenantError::Multiple);
    }
    // A metadata suffix `tenant:key=value` is stripped.
    let id = raw.split(':').next().unwrap_or(raw);
    validate_tenant(id)?;
    Ok(id.to_string())
}

/// Checks the characters and length of a tenant id.
pub fn validate_tenant(id: &str) -> Result<(), TenantError> {
    if id.len() > 150 {
        return Err(TenantError::Invalid("tenant ID is too long: max 150 characters".into()));
    }
    if id == "." || id == ".." {
        return Err(TenantError::Invalid("tenant ID is '.' or '..'".into()));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "!-_.*'()".contains(*c)))
    {
        return Err(TenantError::Invalid(format!("tenant ID '{id}' contains unsupported character '{c}'")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves() {
        assert_eq!(resolve_tenant(None, false).unwrap(), "fake");
        assert_eq!(resolve_tenant(None, true), Err(TenantError::Missing));
        assert_eq!(resolve_tenant(Some("team-a"), true).unwrap(), "team-a");
        assert_eq!(resolve_tenant(Some("a|b"), true), Err(TenantError::Multiple));
        assert!(resolve_tenant(Some("a/b"), true).is_err());
    }
}
