//! Enterprises, their users and their API credentials, and the nonce ledger that makes a
//! signed request usable once.

use sqlx::any::AnyRow;

use crate::{get, is_unique_violation, random_id, Result, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enterprise {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            other => Err(StoreError::Corrupt(format!("unknown role {other:?}"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub enterprise_id: String,
    pub userid: String,
    pub username: String,
    pub email: String,
    pub phone: String,
    pub role: Role,
    pub created_at: i64,
}

/// An integrator's credential: the four values of Tencent Meeting's request signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppCredential {
    pub enterprise_id: String,
    pub app_id: String,
    pub sdk_id: String,
    pub secret_id: String,
    pub secret_key: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

const USER_COLUMNS: &str = "enterprise_id, userid, username, email, phone, role, created_at";
const CREDENTIAL_COLUMNS: &str = "secret_id, enterprise_id, app_id, sdk_id, secret_key, created_at, revoked_at";

fn credential_from(row: &AnyRow) -> Result<AppCredential> {
    Ok(AppCredential {
        enterprise_id: get(row, "enterprise_id")?,
        app_id: get(row, "app_id")?,
        sdk_id: get(row, "sdk_id")?,
        secret_id: get(row, "secret_id")?,
        secret_key: get(row, "secret_key")?,
        created_at: get(row, "created_at")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

fn user_from(row: &AnyRow) -> Result<User> {
    Ok(User {
        enterprise_id: get(row, "enterprise_id")?,
        userid: get(row, "userid")?,
        username: get(row, "username")?,
        email: get(row, "email")?,
        phone: get(row, "phone")?,
        role: Role::parse(&get::<String>(row, "role")?)?,
        created_at: get(row, "created_at")?,
    })
}

impl Store {
    pub async fn create_enterprise(&self, id: &str, name: &str, now: i64) -> Result<Enterprise> {
        let r = sqlx::query("INSERT INTO enterprises (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(name)
            .bind(now)
            .execute(self.pool())
            .await;
        match r {
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict("enterprise exists")),
            Err(e) => Err(e.into()),
            Ok(_) => Ok(Enterprise { id: id.into(), name: name.into(), created_at: now }),
        }
    }

    /// A new enterprise and its first admin, together or not at all (a taken email leaves no
    /// empty enterprise behind).
    pub async fn create_enterprise_with_admin(&self, enterprise: &Enterprise, admin: &User, password_hash: &str) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("INSERT INTO enterprises (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(&enterprise.id)
            .bind(&enterprise.name)
            .bind(enterprise.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| if is_unique_violation(&e) { StoreError::Conflict("enterprise exists") } else { e.into() })?;
        let r = sqlx::query(
            "INSERT INTO users (enterprise_id, userid, username, email, phone, password_hash, role, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&enterprise.id)
        .bind(&admin.userid)
        .bind(&admin.username)
        .bind(&admin.email)
        .bind(&admin.phone)
        .bind(password_hash)
        .bind(Role::Admin.as_str())
        .bind(admin.created_at)
        .execute(&mut *tx)
        .await;
        match r {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::Conflict("email already in use")),
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn enterprise(&self, id: &str) -> Result<Enterprise> {
        let row = sqlx::query("SELECT id, name, created_at FROM enterprises WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(Enterprise { id: get(&row, "id")?, name: get(&row, "name")?, created_at: get(&row, "created_at")? })
    }

    pub async fn create_user(&self, user: &User, password_hash: Option<&str>) -> Result<()> {
        let r = sqlx::query(
            "INSERT INTO users (enterprise_id, userid, username, email, phone, password_hash, role, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&user.enterprise_id)
        .bind(&user.userid)
        .bind(&user.username)
        .bind(&user.email)
        .bind(&user.phone)
        .bind(password_hash)
        .bind(user.role.as_str())
        .bind(user.created_at)
        .execute(self.pool())
        .await;
        match r {
            Err(e) if is_unique_violation(&e) && e.to_string().contains("email") => Err(StoreError::Conflict("email already in use")),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict("userid already exists")),
            Err(e) => Err(e.into()),
            Ok(_) => Ok(()),
        }
    }

    /// The account an email signs in to, with its password hash (`None`: cannot sign in).
    pub async fn user_by_email(&self, email: &str) -> Result<(User, Option<String>)> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1 AND email <> ''"))
            .bind(email)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok((user_from(&row)?, get(&row, "password_hash")?))
    }

    /// An enterprise's users in userid order: one page, and the total.
    pub async fn list_users(&self, enterprise_id: &str, page: i64, page_size: i64) -> Result<(Vec<User>, i64)> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users WHERE enterprise_id = $1").bind(enterprise_id).fetch_one(self.pool()).await?;
        let total: i64 = get(&row, "n")?;
        let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE enterprise_id = $1 ORDER BY userid LIMIT $2 OFFSET $3"))
            .bind(enterprise_id)
            .bind(page_size)
            .bind((page.max(1) - 1) * page_size)
            .fetch_all(self.pool())
            .await?;
        Ok((rows.iter().map(user_from).collect::<Result<Vec<_>>>()?, total))
    }

    /// Rewrites a user's profile and role (not their password).
    pub async fn update_user(&self, user: &User) -> Result<()> {
        let r = sqlx::query("UPDATE users SET username = $1, email = $2, phone = $3, role = $4 WHERE enterprise_id = $5 AND userid = $6")
            .bind(&user.username)
            .bind(&user.email)
            .bind(&user.phone)
            .bind(user.role.as_str())
            .bind(&user.enterprise_id)
            .bind(&user.userid)
            .execute(self.pool())
            .await;
        match r {
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict("email already in use")),
            Err(e) => Err(e.into()),
            Ok(r) if r.rows_affected() == 0 => Err(StoreError::NotFound),
            Ok(_) => Ok(()),
        }
    }

    /// Sets a new password hash and signs the user out everywhere.
    pub async fn set_password_hash(&self, enterprise_id: &str, userid: &str, hash: &str) -> Result<()> {
        let r = sqlx::query("UPDATE users SET password_hash = $1 WHERE enterprise_id = $2 AND userid = $3")
            .bind(hash)
            .bind(enterprise_id)
            .bind(userid)
            .execute(self.pool())
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.delete_web_sessions_of(enterprise_id, userid).await
    }

    /// Removes a user and their web sessions. Their meetings and attendance stay.
    pub async fn delete_user(&self, enterprise_id: &str, userid: &str) -> Result<()> {
        self.delete_web_sessions_of(enterprise_id, userid).await?;
        let r = sqlx::query("DELETE FROM users WHERE enterprise_id = $1 AND userid = $2").bind(enterprise_id).bind(userid).execute(self.pool()).await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn count_admins(&self, enterprise_id: &str) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users WHERE enterprise_id = $1 AND role = 'admin'").bind(enterprise_id).fetch_one(self.pool()).await?;
        get(&row, "n")
    }

    /// Records a signed-in browser by the hash of its cookie.
    pub async fn create_web_session(&self, token_hash: &str, enterprise_id: &str, userid: &str, now: i64, expires_at: i64) -> Result<()> {
        sqlx::query("DELETE FROM web_sessions WHERE expires_at < $1").bind(now).execute(self.pool()).await?;
        sqlx::query("INSERT INTO web_sessions (token_hash, enterprise_id, userid, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(token_hash)
            .bind(enterprise_id)
            .bind(userid)
            .bind(now)
            .bind(expires_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The user behind a session that has not expired.
    pub async fn web_session_user(&self, token_hash: &str, now: i64) -> Result<User> {
        let row = sqlx::query("SELECT enterprise_id, userid FROM web_sessions WHERE token_hash = $1 AND expires_at >= $2")
            .bind(token_hash)
            .bind(now)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        self.user(&get::<String>(&row, "enterprise_id")?, &get::<String>(&row, "userid")?).await
    }

    pub async fn delete_web_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM web_sessions WHERE token_hash = $1").bind(token_hash).execute(self.pool()).await?;
        Ok(())
    }

    async fn delete_web_sessions_of(&self, enterprise_id: &str, userid: &str) -> Result<()> {
        sqlx::query("DELETE FROM web_sessions WHERE enterprise_id = $1 AND userid = $2").bind(enterprise_id).bind(userid).execute(self.pool()).await?;
        Ok(())
    }

    /// An enterprise's credentials, newest first, revoked ones included.
    pub async fn list_credentials(&self, enterprise_id: &str) -> Result<Vec<AppCredential>> {
        let rows = sqlx::query(&format!("SELECT {CREDENTIAL_COLUMNS} FROM app_credentials WHERE enterprise_id = $1 ORDER BY created_at DESC, secret_id"))
            .bind(enterprise_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(credential_from).collect()
    }

    pub async fn user(&self, enterprise_id: &str, userid: &str) -> Result<User> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE enterprise_id = $1 AND userid = $2"))
        .bind(enterprise_id)
        .bind(userid)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
        user_from(&row)
    }

    /// Creates a credential with fresh random SecretId and SecretKey.
    pub async fn create_credential(&self, enterprise_id: &str, app_id: &str, sdk_id: &str, now: i64) -> Result<AppCredential> {
        let cred = AppCredential {
            enterprise_id: enterprise_id.into(),
            app_id: app_id.into(),
            sdk_id: sdk_id.into(),
            secret_id: random_id(24),
            secret_key: random_id(40),
            created_at: now,
            revoked_at: None,
        };
        self.insert_credential(&cred).await?;
        Ok(cred)
    }

    pub async fn insert_credential(&self, c: &AppCredential) -> Result<()> {
        let r = sqlx::query(
            "INSERT INTO app_credentials (secret_id, enterprise_id, app_id, sdk_id, secret_key, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&c.secret_id)
        .bind(&c.enterprise_id)
        .bind(&c.app_id)
        .bind(&c.sdk_id)
        .bind(&c.secret_key)
        .bind(c.created_at)
        .bind(c.revoked_at)
        .execute(self.pool())
        .await;
        match r {
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict("credential exists")),
            Err(e) => Err(e.into()),
            Ok(_) => Ok(()),
        }
    }

    /// A credential that has not been revoked.
    pub async fn active_credential(&self, secret_id: &str) -> Result<AppCredential> {
        let row = sqlx::query(&format!("SELECT {CREDENTIAL_COLUMNS} FROM app_credentials WHERE secret_id = $1 AND revoked_at IS NULL"))
            .bind(secret_id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        credential_from(&row)
    }

    pub async fn revoke_credential(&self, enterprise_id: &str, secret_id: &str, now: i64) -> Result<()> {
        let r = sqlx::query("UPDATE app_credentials SET revoked_at = $1 WHERE secret_id = $2 AND enterprise_id = $3 AND revoked_at IS NULL")
            .bind(now)
            .bind(secret_id)
            .bind(enterprise_id)
            .execute(self.pool())
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Records a nonce for a key, for a request stamped `timestamp`. Returns `false` if it is
    /// already recorded (a replay). A nonce is kept until its request's timestamp has left the
    /// `window` (so a request stamped ahead of the clock cannot be replayed once its nonce is
    /// forgotten); `seen_at` holds the later of the arrival and the timestamp.
    pub async fn use_nonce(&self, secret_id: &str, nonce: &str, now: i64, timestamp: i64, window: i64) -> Result<bool> {
        sqlx::query("DELETE FROM api_nonces WHERE seen_at < $1").bind(now - window).execute(self.pool()).await?;
        let r = sqlx::query("INSERT INTO api_nonces (secret_id, nonce, seen_at) VALUES ($1, $2, $3)")
            .bind(secret_id)
            .bind(nonce)
            .bind(now.max(timestamp))
            .execute(self.pool())
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The dev enterprise of PRODUCT.md: AppId `dev-app`, SdkId `dev-sdk`, SecretId `devkey`,
    /// SecretKey `secret`, and an admin whose userid is `dev-user`. Idempotent. The credential
    /// is put back if a start without dev mode removed it ([`Store::forget_dev_credential`]).
    pub async fn seed_dev(&self, now: i64) -> Result<()> {
        if self.enterprise(DEV_ENTERPRISE).await.is_err() {
            self.create_enterprise(DEV_ENTERPRISE, "Huiyi Dev", now).await?;
            self.create_user(
                &User {
                    enterprise_id: DEV_ENTERPRISE.into(),
                    userid: "dev-user".into(),
                    username: "Dev User".into(),
                    email: String::new(),
                    phone: String::new(),
                    role: Role::Admin,
                    created_at: now,
                },
                None,
            )
            .await?;
        }
        self.forget_dev_credential().await?;
        self.insert_credential(&AppCredential {
            enterprise_id: DEV_ENTERPRISE.into(),
            app_id: DEV_ENTERPRISE.into(),
            sdk_id: "dev-sdk".into(),
            secret_id: DEV_SECRET_ID.into(),
            secret_key: "secret".into(),
            created_at: now,
            revoked_at: None,
        })
        .await
    }

    /// Deletes the dev credential (`devkey`/`secret`), which anyone can read in the docs: a
    /// server started without dev mode calls this, so dev credentials never outlive dev mode.
    /// Returns whether there was one.
    pub async fn forget_dev_credential(&self) -> Result<bool> {
        let r = sqlx::query("DELETE FROM app_credentials WHERE secret_id = $1 AND enterprise_id = $2")
            .bind(DEV_SECRET_ID)
            .bind(DEV_ENTERPRISE)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() > 0)
    }
}

/// The dev enterprise's id (also its AppId) and its credential's SecretId.
pub const DEV_ENTERPRISE: &str = "dev-app";
pub const DEV_SECRET_ID: &str = "devkey";

#[cfg(test)]
mod tests {
    use crate::testing::store;

    #[tokio::test]
    async fn dev_seed_is_idempotent_and_complete() {
        let s = store().await;
        s.seed_dev(1000).await.unwrap();
        s.seed_dev(2000).await.unwrap();
        let c = s.active_credential("devkey").await.unwrap();
        assert_eq!((c.app_id.as_str(), c.sdk_id.as_str(), c.secret_key.as_str()), ("dev-app", "dev-sdk", "secret"));
        assert_eq!(s.user("dev-app", "dev-user").await.unwrap().role, super::Role::Admin);
    }

    #[tokio::test]
    async fn the_dev_credential_is_forgotten_and_seeded_again() {
        let s = store().await;
        s.seed_dev(1000).await.unwrap();
        assert!(s.forget_dev_credential().await.unwrap());
        assert!(s.active_credential("devkey").await.is_err(), "gone after a start without dev mode");
        assert!(!s.forget_dev_credential().await.unwrap());
        s.seed_dev(2000).await.unwrap();
        assert!(s.active_credential("devkey").await.is_ok(), "back in dev mode");
    }

    #[tokio::test]
    async fn nonces_are_single_use_within_the_window() {
        let s = store().await;
        assert!(s.use_nonce("k", "n1", 1000, 1000, 300).await.unwrap());
        assert!(!s.use_nonce("k", "n1", 1100, 1000, 300).await.unwrap(), "replay inside the window");
        assert!(s.use_nonce("other", "n1", 1100, 1000, 300).await.unwrap(), "nonces are per key");
        // After the window the old record is forgotten (the timestamp check rejects it anyway).
        assert!(s.use_nonce("k", "n1", 1401, 1000, 300).await.unwrap());
    }

    #[tokio::test]
    async fn a_nonce_stamped_ahead_is_kept_until_its_timestamp_leaves_the_window() {
        let s = store().await;
        // Stamped 290 s ahead of the clock, as a signer with a fast clock (or an attacker) may.
        assert!(s.use_nonce("k", "n", 1000, 1290, 300).await.unwrap());
        // 303 s later the timestamp (1290) is still inside the window: still a replay.
        assert!(!s.use_nonce("k", "n", 1303, 1290, 300).await.unwrap(), "replayed 303 s later");
        assert!(!s.use_nonce("k", "n", 1590, 1290, 300).await.unwrap(), "replayed at the window's edge");
        // Only once the timestamp is out of the window (and rejected anyway) is it forgotten.
        assert!(s.use_nonce("k", "n", 1591, 1290, 300).await.unwrap());
    }

    #[tokio::test]
    async fn email_sign_in_sessions_and_user_management() {
        let s = store().await;
        s.seed_dev(1).await.unwrap();
        let ann = super::User {
            enterprise_id: "dev-app".into(),
            userid: "ann".into(),
            username: "Ann".into(),
            email: "ann@example.com".into(),
            phone: String::new(),
            role: super::Role::Member,
            created_at: 2,
        };
        s.create_user(&ann, Some("hash-1")).await.unwrap();
        let dup = super::User { userid: "ann2".into(), ..ann.clone() };
        assert!(matches!(s.create_user(&dup, None).await, Err(crate::StoreError::Conflict("email already in use"))));
        let (found, hash) = s.user_by_email("ann@example.com").await.unwrap();
        assert_eq!((found.userid.as_str(), hash.as_deref()), ("ann", Some("hash-1")));
        // Users without an email (dev-user) cannot be found by the empty string.
        assert!(s.user_by_email("").await.is_err());

        s.create_web_session("h1", "dev-app", "ann", 10, 100).await.unwrap();
        assert_eq!(s.web_session_user("h1", 50).await.unwrap().userid, "ann");
        assert!(s.web_session_user("h1", 101).await.is_err(), "expired");
        // A new password signs the user out everywhere.
        s.set_password_hash("dev-app", "ann", "hash-2").await.unwrap();
        assert!(s.web_session_user("h1", 50).await.is_err());

        let (page, total) = s.list_users("dev-app", 1, 1).await.unwrap();
        assert_eq!((page.len(), total), (1, 2));
        assert_eq!(s.count_admins("dev-app").await.unwrap(), 1);
        s.update_user(&super::User { role: super::Role::Admin, ..ann.clone() }).await.unwrap();
        assert_eq!(s.count_admins("dev-app").await.unwrap(), 2);
        s.delete_user("dev-app", "ann").await.unwrap();
        assert!(matches!(s.delete_user("dev-app", "ann").await, Err(crate::StoreError::NotFound)));
    }

    #[tokio::test]
    async fn an_enterprise_and_its_admin_are_created_together() {
        let s = store().await;
        let ent = |id: &str| super::Enterprise { id: id.into(), name: "Acme".into(), created_at: 1 };
        let admin = |e: &str| super::User {
            enterprise_id: e.into(),
            userid: "a@x.cn".into(),
            username: "A".into(),
            email: "a@x.cn".into(),
            phone: String::new(),
            role: super::Role::Admin,
            created_at: 1,
        };
        s.create_enterprise_with_admin(&ent("e1"), &admin("e1"), "h").await.unwrap();
        assert_eq!(s.user_by_email("a@x.cn").await.unwrap().0.role, super::Role::Admin);
        // The same email again: refused, and no second enterprise is left behind.
        assert!(matches!(s.create_enterprise_with_admin(&ent("e2"), &admin("e2"), "h").await, Err(crate::StoreError::Conflict(_))));
        assert!(matches!(s.enterprise("e2").await, Err(crate::StoreError::NotFound)));
    }

    #[tokio::test]
    async fn revoked_credentials_are_not_active() {
        let s = store().await;
        s.seed_dev(1).await.unwrap();
        let c = s.create_credential("dev-app", "dev-app", "sdk2", 5).await.unwrap();
        assert!(s.active_credential(&c.secret_id).await.is_ok());
        s.revoke_credential("dev-app", &c.secret_id, 6).await.unwrap();
        assert!(matches!(s.active_credential(&c.secret_id).await, Err(crate::StoreError::NotFound)));
        assert!(matches!(s.revoke_credential("dev-app", &c.secret_id, 7).await, Err(crate::StoreError::NotFound)));
    }
}
