//! Two-factor sign-in on both backends, with a manual clock: enrolment confirmed by a code; a
//! password alone no longer signs in; a code is accepted one 30-second step either side and never
//! twice (not even by two sign-ins at the same moment); recovery codes work once each; the pages'
//! pending sign-in opens nothing and expires; another admin resets a lost device (sessions end);
//! the admin setting makes admins enrol.

use std::sync::Arc;

use holdfast_core::coworker::Role;
use holdfast_core::service::{SettingsChange, SignIn};
use holdfast_core::time::{Clock, ManualClock};
use holdfast_core::{CoreError, Holdfast};
use holdfast_store::Store;
use holdfast_testing::{PASSWORD, add_coworker, each_backend};

/// 2026-11-30 12:00:10 UTC: ten seconds into a 30-second step.
const T: i64 = 1_796_040_010_000_000;

fn code_at(secret: &str, micros: i64) -> String {
    let bytes = totp_rs::Secret::try_from_base32(secret).expect("base32");
    let totp = totp_rs::Builder::new().with_secret(bytes.as_bytes().to_vec()).build().expect("totp");
    totp.generate((micros / 1_000_000) as u64).to_string()
}

fn sign_in(
    s: &Holdfast<Store>,
    email: &str,
    code: Option<&str>,
) -> Result<holdfast_core::service::SignedIn, CoreError> {
    s.sign_in(SignIn {
        email,
        password: PASSWORD,
        client_addr: Some("192.0.2.10".into()),
        user_agent: None,
        device: None,
        remember_device: false,
        code,
        pending_allowed: false,
    })
}

#[test]
fn codes_work_in_their_window_once_recovery_codes_once_and_a_lost_device_is_reset_by_another_admin() {
    for db in each_backend() {
        let clock = Arc::new(ManualClock::at(T));
        let s = Holdfast::with_clock(db.store(), Arc::clone(&clock) as Arc<dyn holdfast_core::time::Clock>);
        add_coworker(&s, "ada@example.com", Role::Admin, None, None);
        add_coworker(&s, "bo@example.com", Role::Admin, None, None);
        let ada = s.actor_for("ada@example.com").expect("ada");

        // Enrolment: the password again first; the secret is not asked for until a code confirms it.
        assert!(matches!(s.begin_two_factor(&ada, "not it"), Err(CoreError::Invalid(_))));
        let e = s.begin_two_factor(&ada, PASSWORD).expect("begin");
        assert!(
            e.otpauth_url.starts_with("otpauth://totp/Holdfast:ada%40example.com?")
                || e.otpauth_url.starts_with("otpauth://totp/Holdfast:ada@example.com?"),
            "{}",
            e.otpauth_url
        );
        assert!(sign_in(&s, "ada@example.com", None).is_ok(), "not on before it is confirmed");
        assert!(matches!(s.confirm_two_factor(&ada, "000000"), Err(CoreError::Invalid(_))));
        let recovery = s.confirm_two_factor(&ada, &code_at(&e.secret, T)).expect("confirmed");
        assert_eq!(recovery.len(), 10);
        assert!(
            matches!(s.begin_two_factor(&ada, PASSWORD), Err(CoreError::Conflict(_))),
            "a confirmed one is not replaced"
        );

        // A password alone no longer signs in; the confirming code was used up.
        let refused = sign_in(&s, "ada@example.com", None).err().expect("a code is asked for");
        assert!(refused.to_string().contains("code"), "{refused}");
        assert!(sign_in(&s, "ada@example.com", Some(&code_at(&e.secret, T))).is_err(), "the same step twice");

        // One step later: accepted once.
        clock.advance_secs(30);
        let now = T + 30_000_000;
        assert!(sign_in(&s, "ada@example.com", Some(&code_at(&e.secret, now))).is_ok());
        assert!(sign_in(&s, "ada@example.com", Some(&code_at(&e.secret, now))).is_err(), "reuse refused");

        // The window: one step either side of now, and only steps after the last one used. (Past
        // the sign-in limits' window first: the refusals above counted as failed sign-ins.)
        clock.advance_secs(16 * 60);
        let now = clock.now();
        assert!(sign_in(&s, "ada@example.com", Some(&code_at(&e.secret, now - 60_000_000))).is_err(), "two steps old");
        assert!(sign_in(&s, "ada@example.com", Some(&code_at(&e.secret, now - 30_000_000))).is_ok(), "one step old");
        assert!(sign_in(&s, "ada@example.com", Some(&code_at(&e.secret, now + 30_000_000))).is_ok(), "one step ahead");
        assert!(sign_in(&s, "ada@example.com", Some(&code_at(&e.secret, now))).is_err(), "before a step already used");

        // Two sign-ins with the same fresh code at the same moment: exactly one gets in.
        clock.advance_secs(60);
        let fresh = code_at(&e.secret, clock.now());
        let outcomes: Vec<bool> = std::thread::scope(|scope| {
            let a = scope.spawn(|| sign_in(&s, "ada@example.com", Some(&fresh)).is_ok());
            let b = scope.spawn(|| sign_in(&s, "ada@example.com", Some(&fresh)).is_ok());
            vec![a.join().unwrap_or(false), b.join().unwrap_or(false)]
        });
        assert_eq!(outcomes.iter().filter(|ok| **ok).count(), 1, "{outcomes:?}");

        // Recovery codes: each once. (Past the sign-in limits' window first: the refusals above
        // counted as failed sign-ins.)
        clock.advance_secs(16 * 60);
        assert!(sign_in(&s, "ada@example.com", Some(&recovery[0].to_uppercase())).is_ok());
        assert!(sign_in(&s, "ada@example.com", Some(&recovery[0])).is_err(), "used");
        assert_eq!(s.two_factor_of(ada.id().expect("id")).expect("status"), Some(9));

        // The pages' two steps: a pending sign-in opens nothing, is finished once, and expires.
        let attempt = |pending_allowed| SignIn {
            email: "ada@example.com",
            password: PASSWORD,
            client_addr: None,
            user_agent: None,
            device: None,
            remember_device: false,
            code: None,
            pending_allowed,
        };
        let pending = s.sign_in(attempt(true)).expect("pending");
        assert!(pending.pending);
        assert!(s.authenticate(&pending.session, None, None).is_err(), "a pending sign-in opens nothing");
        clock.advance_secs(30);
        let code = code_at(&e.secret, clock.now());
        assert!(s.complete_sign_in(&pending.session, "123", None, None, false).is_err(), "a wrong code");
        let done = s.complete_sign_in(&pending.session, &code, None, None, false).expect("finished");
        assert!(!done.pending && s.authenticate(&done.session, None, None).is_ok());
        assert!(s.complete_sign_in(&pending.session, &code, None, None, false).is_err(), "finished once");
        let late = s.sign_in(attempt(true)).expect("pending");
        clock.advance_secs(6 * 60);
        let code = code_at(&e.secret, clock.now());
        let expired = s.complete_sign_in(&late.session, &code, None, None, false).err().expect("expired");
        assert!(expired.to_string().contains("expired"), "{expired}");

        // A lost device: another admin resets it, Ada's sessions end, a password works again.
        assert!(matches!(s.reset_two_factor(&ada, "ada@example.com"), Err(CoreError::Forbidden(_))));
        let bo = s.actor_for("bo@example.com").expect("bo");
        s.reset_two_factor(&bo, "ada@example.com").expect("reset");
        assert!(s.authenticate(&done.session, None, None).is_err(), "her sessions ended");
        assert!(sign_in(&s, "ada@example.com", None).is_ok());

        // The admin setting: an admin without a second factor must enrol first.
        assert!(!s.must_enrol_two_factor(&bo).expect("check"));
        let on = SettingsChange { two_factor_for_admins: Some(true), ..Default::default() };
        s.change_settings(&bo, &on).expect("setting");
        assert!(s.must_enrol_two_factor(&bo).expect("check"));
        let e = s.begin_two_factor(&bo, PASSWORD).expect("begin");
        s.confirm_two_factor(&bo, &code_at(&e.secret, clock.now())).expect("confirm");
        assert!(!s.must_enrol_two_factor(&bo).expect("check"));
        let rep = {
            add_coworker(&s, "rep@example.com", Role::Rep, None, None);
            s.actor_for("rep@example.com").expect("rep")
        };
        assert!(!s.must_enrol_two_factor(&rep).expect("check"), "the setting is for admins");

        let events =
            s.events(&bo, &holdfast_core::event::EventFilter { limit: 500, ..Default::default() }).expect("events");
        for action in ["two_factor.enrol", "two_factor.recovery_used", "two_factor.reset"] {
            assert!(events.iter().any(|e| e.event.action == action), "{action} recorded");
        }
        assert!(
            events
                .iter()
                .any(|e| e.event.action == "auth.login_failed" && e.event.details["reason"] == "wrong second factor")
        );
    }
}
