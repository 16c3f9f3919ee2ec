//! `outpost-hub demo`: demo tenants, one user per role, synthetic patients whose clinical
//! fields are distributed like a stroke-risk cohort (≈5% stroke, rising with age,
//! hypertension and heart disease; BMI missing for a few percent), and the clinic's schedule
//! ([`schedule`]).

use chrono::{Duration, NaiveDate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use outpost_domain::audit::Actor;
use outpost_domain::clock::ManualClock;
use outpost_domain::patient::{PatientFields, ResidenceType, Sex, SmokingStatus, WorkType};
use outpost_domain::tenant::{NewTenant, Tenant};
use outpost_domain::{Role, TenantKind};

use crate::accounts::{ExistingEmail, NewAccount, add_member};

pub mod schedule;
pub mod transport;
use crate::error::ApiError;
use crate::passwords::{self, PasswordWork};
use crate::state::HubState;

/// Synthetic patients per clinic and per hospital.
pub const PATIENTS_PER_TENANT: usize = 5000;

const GIVEN_FEMALE: &[&str] = &[
    "Olivia",
    "Emma",
    "Amelia",
    "Sophia",
    "Isabella",
    "Mia",
    "Harper",
    "Evelyn",
    "Abigail",
    "Emily",
    "Ella",
    "Elizabeth",
    "Camila",
    "Luna",
    "Sofia",
    "Avery",
    "Mila",
    "Aria",
    "Scarlett",
    "Penelope",
    "Layla",
    "Chloe",
    "Victoria",
    "Madison",
    "Eleanor",
    "Grace",
    "Nora",
    "Riley",
    "Zoey",
    "Hannah",
    "Lillian",
    "Addison",
    "Aubrey",
    "Ellie",
    "Stella",
    "Natalie",
    "Leah",
    "Hazel",
    "Violet",
    "Aurora",
    "Savannah",
    "Audrey",
    "Brooklyn",
    "Bella",
    "Claire",
    "Lucy",
    "Maria",
    "Fatima",
    "Aisha",
    "Mei",
    "Yuki",
    "Priya",
    "Ana",
    "Ingrid",
    "Chiara",
    "Noor",
];
const GIVEN_MALE: &[&str] = &[
    "Liam",
    "Noah",
    "Oliver",
    "Elijah",
    "James",
    "William",
    "Benjamin",
    "Lucas",
    "Henry",
    "Theodore",
    "Jack",
    "Levi",
    "Alexander",
    "Jackson",
    "Mateo",
    "Daniel",
    "Michael",
    "Mason",
    "Sebastian",
    "Ethan",
    "Logan",
    "Owen",
    "Samuel",
    "Jacob",
    "Asher",
    "Aiden",
    "John",
    "Joseph",
    "Wyatt",
    "David",
    "Leo",
    "Luke",
    "Julian",
    "Hudson",
    "Grayson",
    "Matthew",
    "Ezra",
    "Gabriel",
    "Carter",
    "Isaac",
    "Jayden",
    "Luca",
    "Anthony",
    "Dylan",
    "Lincoln",
    "Thomas",
    "Omar",
    "Hiroshi",
    "Arjun",
    "Mohammed",
    "Sven",
    "Marco",
    "Kwame",
    "Diego",
    "Pierre",
    "Tomasz",
];
const FAMILY: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Gomez",
    "Phillips",
    "Evans",
    "Turner",
    "Diaz",
    "Parker",
    "Cruz",
    "Edwards",
    "Collins",
    "Reyes",
    "Stewart",
    "Morris",
    "Morales",
    "Murphy",
    "Cook",
    "Rogers",
    "Gutierrez",
    "Ortiz",
    "Morgan",
    "Cooper",
    "Peterson",
    "Bailey",
    "Reed",
    "Kelly",
    "Howard",
    "Ramos",
    "Kim",
    "Cox",
    "Ward",
    "Richardson",
    "Watson",
    "Brooks",
    "Chavez",
    "Wood",
    "James",
    "Bennett",
    "Gray",
    "Mendoza",
    "Ruiz",
    "Hughes",
    "Price",
    "Alvarez",
    "Castillo",
    "Sanders",
    "Patel",
    "Myers",
    "Long",
    "Ross",
    "Foster",
    "Jimenez",
    "Müller",
    "Schmidt",
    "Okafor",
    "Tanaka",
    "Kowalski",
    "Rossi",
    "Dubois",
    "Larsen",
    "Singh",
];
const STREETS: &[&str] = &[
    "Maple",
    "Oak",
    "Cedar",
    "Pine",
    "Elm",
    "Washington",
    "Lake",
    "Hill",
    "Park",
    "Main",
    "Church",
    "River",
    "Sunset",
    "Highland",
    "Meadow",
    "Forest",
    "Willow",
    "Spring",
    "Ridge",
];
const CITIES: &[&str] = &[
    "Springfield",
    "Riverton",
    "Fairview",
    "Lakeside",
    "Georgetown",
    "Franklin",
    "Greenville",
    "Bristol",
    "Clinton",
    "Madison",
    "Salem",
    "Ashland",
];

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut StdRng, mean: f64, sd: f64) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.r#gen();
    mean + sd * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.gen_range(0..items.len())]
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// `count` synthetic patients with MRNs `{prefix}-000001`…, born before `today`.
pub fn patients(seed: u64, prefix: &str, count: usize, today: NaiveDate) -> Vec<PatientFields> {
    let mut rng = StdRng::seed_from_u64(seed);
    (1..=count)
        .map(|n| patient(&mut rng, &format!("{prefix}-{n:06}"), today))
        .collect()
}

fn patient(rng: &mut StdRng, mrn: &str, today: NaiveDate) -> PatientFields {
    let age: f64 = rng.gen_range(0.1..90.0);
    let sex = match rng.gen_range(0..1000) {
        0..=585 => Sex::Female,
        586..=997 => Sex::Male,
        _ => Sex::Other,
    };
    let given = match sex {
        Sex::Female => pick(rng, GIVEN_FEMALE),
        Sex::Male => pick(rng, GIVEN_MALE),
        _ => {
            let names = if rng.r#gen() {
                GIVEN_FEMALE
            } else {
                GIVEN_MALE
            };
            pick(rng, names)
        }
    };
    let family = pick(rng, FAMILY);
    let birth_date = today - Duration::days((age * 365.25) as i64);
    let adult = age >= 18.0;
    let hypertension = rng.gen_bool((0.0022 * age).min(0.35));
    let heart_disease = rng.gen_bool((0.0012 * age * age / 60.0).min(0.25));
    let ever_married = adult && rng.gen_bool(if age > 30.0 { 0.85 } else { 0.45 });
    let work_type = if age < 16.0 {
        WorkType::Children
    } else {
        match rng.gen_range(0..100) {
            0..=63 => WorkType::Private,
            64..=81 => WorkType::SelfEmployed,
            82..=97 => WorkType::GovtJob,
            _ => WorkType::NeverWorked,
        }
    };
    let residence_type = if rng.r#gen() {
        ResidenceType::Urban
    } else {
        ResidenceType::Rural
    };
    let glucose = if rng.gen_bool(0.15) {
        rng.gen_range(150.0..270.0)
    } else {
        normal(rng, 92.0, 18.0).clamp(55.0, 150.0)
    };
    let bmi = if rng.gen_bool(0.04) {
        None
    } else if adult {
        Some(round1(normal(rng, 29.5, 6.5).clamp(14.0, 75.0)))
    } else {
        Some(round1(
            normal(rng, 14.0 + age * 0.55, 3.0).clamp(11.0, 45.0),
        ))
    };
    let smoking_status = if age < 12.0 {
        SmokingStatus::Unknown
    } else {
        match rng.gen_range(0..100) {
            0..=38 => SmokingStatus::NeverSmoked,
            39..=62 => SmokingStatus::Unknown,
            63..=81 => SmokingStatus::FormerlySmoked,
            _ => SmokingStatus::Smokes,
        }
    };
    let risk = -7.5
        + 0.07 * age
        + if hypertension { 0.45 } else { 0.0 }
        + if heart_disease { 0.35 } else { 0.0 }
        + if glucose > 150.0 { 0.3 } else { 0.0 };
    let stroke = rng.gen_bool(1.0 / (1.0 + (-risk).exp()));
    let n: u32 = rng.gen_range(1..9999);
    PatientFields {
        mrn: mrn.to_owned(),
        given_name: given.to_owned(),
        family_name: family.to_owned(),
        birth_date,
        sex,
        phone: Some(format!(
            "+1 555-{:03}-{:04}",
            rng.gen_range(100..999),
            rng.gen_range(0..9999)
        )),
        email: rng.gen_bool(0.7).then(|| {
            format!(
                "{}.{}{}@example.org",
                given.to_lowercase(),
                family.to_lowercase().replace('ü', "u"),
                n % 100
            )
        }),
        address: Some(format!(
            "{} {} St, {}",
            n,
            pick(rng, STREETS),
            pick(rng, CITIES)
        )),
        name_is_pseudonym: None,
        birth_date_estimated: None,
        hypertension: Some(hypertension),
        heart_disease: Some(heart_disease),
        ever_married: Some(ever_married),
        work_type: Some(work_type),
        residence_type: Some(residence_type),
        avg_glucose_level: Some(round1(glucose)),
        bmi,
        smoking_status: Some(smoking_status),
        stroke: Some(stroke),
    }
}

/// A demo login, printed once.
#[derive(Debug, Clone, Serialize)]
pub struct DemoLogin {
    pub role: Role,
    pub tenant: Option<String>,
    pub email: String,
    pub password: String,
}

/// The demo tenants: slug, name, kind.
pub const TENANTS: &[(&str, &str, TenantKind)] = &[
    (
        "northside-clinic",
        "Northside Family Clinic",
        TenantKind::Clinic,
    ),
    (
        "st-mary-hospital",
        "St. Mary General Hospital",
        TenantKind::Hospital,
    ),
    ("metro-ems", "Metro EMS", TenantKind::EmsAgency),
    ("county-ems", "County EMS", TenantKind::EmsAgency),
    (
        "regional-transport",
        "Regional Transport Center",
        TenantKind::TransportCenter,
    ),
];

/// Which tenant (by slug; `None` = platform) each demo user belongs to, and the first word of
/// their e-mail when it is not their role's.
const USERS: &[(Role, Option<&str>, &str, Option<&str>)] = &[
    (Role::PlatformAdmin, None, "Pat Admin", None),
    (
        Role::TenantAdmin,
        Some("northside-clinic"),
        "Tess Admin",
        None,
    ),
    (
        Role::Doctor,
        Some("northside-clinic"),
        "Dr. Dana Reyes",
        None,
    ),
    (Role::Nurse, Some("st-mary-hospital"), "Nico Nurse", None),
    (
        Role::FrontDesk,
        Some("northside-clinic"),
        "Frankie Desk",
        None,
    ),
    (Role::EmsDispatcher, Some("metro-ems"), "Dee Dispatch", None),
    (Role::EmsCrew, Some("metro-ems"), "Casey Crew", None),
    (
        Role::EmsDispatcher,
        Some("county-ems"),
        "Kit Dispatch",
        Some("county.dispatcher"),
    ),
    (
        Role::EmsCrew,
        Some("county-ems"),
        "Robin Crew",
        Some("county.crew"),
    ),
    (
        Role::TransportCoordinator,
        Some("st-mary-hospital"),
        "Cory Coordinator",
        None,
    ),
    (
        Role::TransportCoordinator,
        Some("regional-transport"),
        "Terry Center",
        Some("transport.center"),
    ),
    (
        Role::Auditor,
        Some("northside-clinic"),
        "Audrey Auditor",
        None,
    ),
];

/// Builds the demo in an empty store and returns the logins (with generated passwords). The
/// board's month of history is written through `state`, whose clock `clock` is moved to each
/// of its moments and left at `actor.at`.
pub async fn build(
    state: &HubState,
    clock: &ManualClock,
    actor: &Actor,
    per_tenant: usize,
) -> Result<Vec<DemoLogin>, ApiError> {
    let store = state.store.as_ref();
    let mut tenants: Vec<Tenant> = Vec::new();
    for (i, (slug, name, kind)) in TENANTS.iter().enumerate() {
        let new = NewTenant {
            slug: (*slug).to_owned(),
            name: (*name).to_owned(),
            kind: *kind,
        };
        let event = actor.event("tenant.create", outpost_domain::audit::Outcome::Success);
        let tenant = store.provision_tenant(&new, event).await?;
        if matches!(kind, TenantKind::Clinic | TenantKind::Hospital) {
            let prefix = if *kind == TenantKind::Clinic {
                "NC"
            } else {
                "SM"
            };
            let batch = patients(i as u64 + 1, prefix, per_tenant, actor.at.date_naive());
            let mut tenant_actor = actor.clone();
            tenant_actor.tenant_id = Some(tenant.id);
            let db = store.tenant(tenant.id).await?;
            let created = db.create_patients(batch, &tenant_actor).await?;
            let ids: Vec<_> = created.iter().map(|p| p.id).collect();
            if *kind == TenantKind::Clinic {
                let plan = schedule::plan(i as u64 + 11, actor.at.date_naive(), &ids);
                schedule::store(db.as_ref(), plan, &tenant_actor).await?;
            } else {
                transport::hospital(db.as_ref(), &ids, actor.at, &tenant_actor).await?;
            }
        }
        tenants.push(tenant);
    }
    let mut logins = Vec::new();
    let hashing = PasswordWork::start(1, 1);
    let mut members = Vec::new();
    for (role, slug, full_name, mailbox) in USERS {
        let tenant = slug.and_then(|s| tenants.iter().find(|t| t.slug == s));
        let mailbox = mailbox.map_or_else(|| role.as_str().replace('_', "."), str::to_owned);
        let email = format!("{mailbox}@demo.outpost.test");
        let password = passwords::generate();
        let member = add_member(
            store,
            &hashing,
            tenant,
            NewAccount {
                email: email.clone(),
                full_name: (*full_name).to_owned(),
                role: *role,
                password: password.clone(),
            },
            ExistingEmail::Refuse,
            actor,
        )
        .await?;
        if let (Role::EmsCrew, Some(agency)) = (role, tenant) {
            let mut tenant_actor = actor.clone();
            tenant_actor.tenant_id = Some(agency.id);
            let db = store.tenant(agency.id).await?;
            let specs = if agency.slug == "metro-ems" {
                transport::METRO_UNITS
            } else {
                transport::COUNTY_UNITS
            };
            transport::units(db.as_ref(), specs, &[member.id], &tenant_actor).await?;
        }
        members.push((*role, tenant.map(|t| t.id), member.id));
        logins.push(DemoLogin {
            role: *role,
            tenant: slug.map(str::to_owned),
            email,
            password,
        });
    }
    let member = |role: Role, tenant: &Tenant| {
        members
            .iter()
            .find(|(r, t, _)| *r == role && *t == Some(tenant.id))
            .map(|(_, _, id)| *id)
            .ok_or_else(ApiError::internal)
    };
    let slug = |s: &str| {
        tenants
            .iter()
            .find(|t| t.slug == s)
            .cloned()
            .ok_or_else(ApiError::internal)
    };
    let hospital = slug("st-mary-hospital")?;
    let mut agencies = Vec::new();
    for name in ["metro-ems", "county-ems"] {
        let tenant = slug(name)?;
        agencies.push(transport::DemoAgency {
            dispatcher: member(Role::EmsDispatcher, &tenant)?,
            tenant,
        });
    }
    let agencies: [transport::DemoAgency; 2] =
        agencies.try_into().map_err(|_| ApiError::internal())?;
    transport::board(
        state,
        clock,
        actor,
        &hospital,
        member(Role::TransportCoordinator, &hospital)?,
        &agencies,
        actor.at,
    )
    .await?;
    Ok(logins)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cohort_looks_like_a_stroke_risk_cohort() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 21).expect("date");
        let cohort = patients(7, "T", 20_000, today);
        let share = |f: &dyn Fn(&PatientFields) -> bool| {
            cohort.iter().filter(|p| f(p)).count() as f64 / cohort.len() as f64
        };
        let stroke = share(&|p| p.stroke == Some(true));
        let no_bmi = share(&|p| p.bmi.is_none());
        let hypertension = share(&|p| p.hypertension == Some(true));
        assert!((0.03..=0.07).contains(&stroke), "stroke share {stroke}");
        assert!(
            (0.02..=0.06).contains(&no_bmi),
            "missing BMI share {no_bmi}"
        );
        assert!(
            (0.05..=0.15).contains(&hypertension),
            "hypertension share {hypertension}"
        );
        for p in &cohort[..500] {
            p.validate(today).expect("synthetic patients are valid");
        }
        let mut mrns: Vec<_> = cohort.iter().map(|p| &p.mrn).collect();
        mrns.dedup();
        assert_eq!(mrns.len(), cohort.len());
    }
}
