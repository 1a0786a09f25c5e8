//! Container image references: `registry/repository[:tag][@sha256:<64 hex>]`. A release is pinned only
//! by its digest; a tag is a movable name, kept for display. Signatures and provenance bind digests, so
//! every check in this crate compares the digest parsed here.

use std::fmt;

use serde::Serialize;

use crate::SupplyError;

/// A parsed image reference. Pinned means the same as `ringfence_core::model::image_digest`: sha256 and
/// 64 lowercase hex digits. Not `Deserialize`: build it with [`ImageRef::parse`], which validates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRef {
    /// Registry and path as written, e.g. `ghcr.io/acme/odoo` (no tag, no digest).
    pub repository: String,
    /// The tag, e.g. `17.0-2026.11`, if one was written.
    pub tag: Option<String>,
    /// `sha256:<64 lowercase hex>`, if the reference is pinned.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses `repository[:tag][@sha256:<hex>]`, rejecting what a registry would reject.
    pub fn parse(reference: &str) -> Result<ImageRef, SupplyError> {
        let fail = |reason: &str| SupplyError::ImageRef { reference: reference.to_owned(), reason: reason.to_owned() };
        if reference.is_empty() {
            return Err(fail("it is empty"));
        }
        if reference.chars().any(char::is_whitespace) {
            return Err(fail("it contains whitespace"));
        }
        let (name, digest) = match reference.split_once('@') {
            Some((name, digest)) => (name, Some(parse_digest(digest).map_err(|r| fail(&r))?)),
            None => (reference, None),
        };
        // A tag follows the last ':' of the last path component; an earlier ':' is a registry port.
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match name[last_slash..].rfind(':') {
            Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
            None => (name, None),
        };
        check_repository(repository).map_err(|r| fail(&r))?;
        if let Some(tag) = tag {
            check_tag(tag).map_err(|r| fail(&r))?;
        }
        Ok(ImageRef { repository: repository.to_owned(), tag: tag.map(str::to_owned), digest })
    }

    /// True when the reference names content by digest, not a movable tag.
    pub fn is_pinned(&self) -> bool {
        self.digest.is_some()
    }

    /// The digest's hex part (what in-toto subjects carry under `digest.sha256`).
    pub fn digest_hex(&self) -> Option<&str> {
        self.digest.as_deref().and_then(|d| d.strip_prefix("sha256:"))
    }

    /// The repository as registries resolve it: Docker Hub's implicit `docker.io` host and `library/`
    /// namespace made explicit, so `odoo` and `docker.io/library/odoo` compare equal.
    pub fn canonical_repository(&self) -> String {
        canonical_repository(&self.repository)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for ImageRef {
    type Err = SupplyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageRef::parse(s)
    }
}

/// Docker Hub normalisation of a repository name (see [`ImageRef::canonical_repository`]).
pub(crate) fn canonical_repository(repository: &str) -> String {
    let (first, rest) = match repository.split_once('/') {
        Some((first, rest)) => (first, Some(rest)),
        None => (repository, None),
    };
    match rest {
        Some(rest) if is_registry_host(first) => {
            let host = if first == "index.docker.io" { "docker.io" } else { first };
            if host == "docker.io" && !rest.contains('/') {
                format!("docker.io/library/{rest}")
            } else {
                format!("{host}/{rest}")
            }
        }
        Some(rest) => format!("docker.io/{first}/{rest}"),
        None => format!("docker.io/library/{first}"),
    }
}

fn is_registry_host(component: &str) -> bool {
    component.contains('.') || component.contains(':') || component == "localhost"
}

fn parse_digest(digest: &str) -> Result<String, String> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(format!("digest {digest:?} has no algorithm; expected sha256:<64 hex>"));
    };
    if algorithm != "sha256" {
        return Err(format!("digest algorithm {algorithm:?} is not supported; expected sha256"));
    }
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(format!("digest {digest:?} is not sha256 followed by 64 lowercase hex digits"));
    }
    Ok(digest.to_owned())
}

fn check_repository(repository: &str) -> Result<(), String> {
    if repository.is_empty() {
        return Err("the repository name is empty".into());
    }
    let components: Vec<&str> = repository.split('/').collect();
    for (i, component) in components.iter().enumerate() {
        if component.is_empty() {
            return Err(format!("repository {repository:?} has an empty path component"));
        }
        let host = i == 0 && components.len() > 1 && is_registry_host(component);
        let ok = if host {
            component.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b':')
        } else {
            component.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && component.as_bytes()[0].is_ascii_alphanumeric()
        };
        if !ok {
            return Err(format!(
                "repository component {component:?} may only hold lowercase letters, digits and . _ - \
                 (starting with a letter or digit)"
            ));
        }
    }
    Ok(())
}

fn check_tag(tag: &str) -> Result<(), String> {
    let valid = !tag.is_empty()
        && tag.len() <= 128
        && (tag.as_bytes()[0].is_ascii_alphanumeric() || tag.starts_with('_'))
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(format!("tag {tag:?} is not 1-128 letters, digits, . _ - (not starting with . or -)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn pinned_reference_with_registry_port() {
        let r = ImageRef::parse(&format!("localhost:5000/acme/odoo:17.0@sha256:{HEX}")).unwrap();
        assert_eq!(r.repository, "localhost:5000/acme/odoo");
        assert_eq!(r.tag.as_deref(), Some("17.0"));
        assert_eq!(r.digest_hex(), Some(HEX));
        assert!(r.is_pinned());
        assert_eq!(r.to_string(), format!("localhost:5000/acme/odoo:17.0@sha256:{HEX}"));
    }

    #[test]
    fn tag_only_is_not_pinned() {
        let r = ImageRef::parse("ghcr.io/acme/odoo:17.0").unwrap();
        assert_eq!(
            (r.repository.as_str(), r.tag.as_deref(), r.is_pinned()),
            ("ghcr.io/acme/odoo", Some("17.0"), false)
        );
        let r = ImageRef::parse("localhost:5000/odoo").unwrap();
        assert_eq!((r.repository.as_str(), r.tag), ("localhost:5000/odoo", None));
    }

    #[test]
    fn rejects_bad_references() {
        for bad in [
            "",
            "odoo@sha256:abc",
            &format!("odoo@sha512:{HEX}"),
            &format!("odoo@sha256:{}", HEX.to_uppercase()),
            "Acme/odoo:1",
            "odoo:",
            "odoo:-x",
            "acme//odoo",
            "odoo 17",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn docker_hub_names_are_canonicalised() {
        for (name, canonical) in [
            ("odoo", "docker.io/library/odoo"),
            ("docker.io/odoo", "docker.io/library/odoo"),
            ("index.docker.io/library/odoo", "docker.io/library/odoo"),
            ("acme/odoo", "docker.io/acme/odoo"),
            ("ghcr.io/acme/odoo", "ghcr.io/acme/odoo"),
        ] {
            assert_eq!(canonical_repository(name), canonical, "{name}");
        }
    }
}
