//! Connection routing: one small pool per database under one global connection cap.
//!
//! A hub with hundreds of tenants cannot keep a pool per tenant open: each PostgreSQL
//! connection is a server process. Every open connection (idle or in use) holds one of `cap`
//! permits, so the hub never has more than `cap` connections in all. A connection belongs to
//! the database it was opened on and goes back to that database's idle list, so it never
//! serves another tenant.
//!
//! Waiting is first come, first served: a request first takes one of its database's
//! `per_database` slots (a stream, one of its `streams_per_database`), then one of `cap`
//! checkouts (connections in use), all FIFO semaphores. Streams (a first mirror's snapshot, a
//! backup) hold their connection for as long as the client reads, so they have slots of their
//! own: however many workstations mirror at once, the tenant's other requests keep theirs. Holding a checkout, it reuses an idle connection of its database or opens one;
//! at the cap it closes the least recently used idle connection, of which there is always one
//! (fewer than `cap` others are in use) unless another request is closing it, whose permit
//! it then waits for. Connections idle longer than `idle_timeout` are closed by a sweeper,
//! and a database with no connections and no waiting request leaves the cache.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Client, Config, Notification};

use outpost_store::{ConnectionGauges, StoreError, StoreResult};

use crate::OrBackend;
use crate::admin::quote_ident;
use crate::tls::Transport;

/// Limits of the router.
#[derive(Debug, Clone)]
pub struct RouterLimits {
    /// Open connections across every database.
    pub cap: usize,
    /// Connections to any one database for requests: writers of one tenant are serialised by
    /// the tenant's write lock anyway, so a few are enough.
    pub per_database: usize,
    /// Connections to any one database for streams (snapshots, backups), besides those.
    pub streams_per_database: usize,
    /// An idle connection older than this is closed.
    pub idle_timeout: Duration,
}

impl Default for RouterLimits {
    fn default() -> Self {
        Self {
            cap: 64,
            per_database: 3,
            streams_per_database: 2,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// Where a connection goes: a server's connection settings with the database to open.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// The server's name in the configuration.
    pub server: String,
    pub database: String,
}

impl Target {
    /// `<server>/<database>`, as the central registry records a tenant's place.
    pub fn location(&self) -> String {
        format!("{}/{}", self.server, self.database)
    }
}

struct Open {
    client: Client,
    connection: JoinHandle<()>,
    permit: OwnedSemaphorePermit,
}

impl Open {
    /// Closes the connection and waits until its socket is closed, so that a connection
    /// counted as gone is gone.
    async fn close(self) {
        let Open {
            client,
            connection,
            permit,
        } = self;
        drop(client);
        let _ = connection.await;
        drop(permit);
    }
}

struct Idle {
    open: Open,
    since: Instant,
}

struct Pool {
    idle: Vec<Idle>,
    /// Idle plus in use.
    open: usize,
    /// The database's request slots (`per_database`), handed out in arrival order.
    slots: Arc<Semaphore>,
    /// Its stream slots (`streams_per_database`).
    streams: Arc<Semaphore>,
}

impl Pool {
    /// Nothing open and nobody holding or awaiting a slot: the entry can go.
    fn unused(&self) -> bool {
        self.open == 0
            && Arc::strong_count(&self.slots) == 1
            && Arc::strong_count(&self.streams) == 1
    }
}

/// What a connection is checked out for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// A request: answered, then the connection goes back.
    Request,
    /// A stream held for as long as its client reads.
    Stream,
}

/// The per-database pools and the global cap.
pub struct Router {
    limits: RouterLimits,
    servers: HashMap<String, Config>,
    /// A role the hub's connections switch to after connecting (`SET ROLE`), so that requests
    /// run without the owner's privileges.
    runtime_role: Option<String>,
    transport: Transport,
    /// One per open connection.
    permits: Arc<Semaphore>,
    /// One per connection in use (or being opened for a request).
    checkouts: Arc<Semaphore>,
    pools: Mutex<HashMap<Target, Pool>>,
    /// Requests waiting for a slot or a checkout.
    waiting: AtomicUsize,
}

/// Counts a request as waiting for as long as it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection checked out of the router; it goes back to its database's idle list when
/// dropped (or is closed, if it broke).
pub struct Conn {
    open: Option<Open>,
    target: Target,
    router: Arc<Router>,
    /// Pooled connections go back to their database's idle list; owner connections close.
    pooled: bool,
    /// Statements run with [`Conn::enter`] whose end ([`Conn::leave`]) has not run yet: a
    /// transaction begun by hand, a session-level lock. Dropped with any, the connection is
    /// closed rather than handed to the next request in that state.
    entered: u32,
    /// Released after the connection is back (fields drop after `Drop::drop`).
    _checkout: OwnedSemaphorePermit,
    _slot: Option<OwnedSemaphorePermit>,
}

impl Deref for Conn {
    type Target = Client;
    fn deref(&self) -> &Client {
        match &self.open {
            Some(open) => &open.client,
            None => unreachable!("a checked-out connection holds its client until dropped"),
        }
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Client {
        match &mut self.open {
            Some(open) => &mut open.client,
            None => unreachable!("a checked-out connection holds its client until dropped"),
        }
    }
}

impl Conn {
    /// The database this connection is open on.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Runs `sql` that leaves state in the session for later statements (`BEGIN`, a
    /// session-level advisory lock). Until the matching [`Conn::leave`] succeeds, dropping
    /// this connection (a request cancelled mid-way) closes it instead of pooling it, so no
    /// request ever inherits an open transaction or a lock.
    pub async fn enter(&mut self, sql: &str) -> StoreResult<()> {
        self.entered += 1;
        self.batch_execute(sql).await.db()
    }

    /// Runs `sql` that ends what an [`Conn::enter`] began (`COMMIT`, an unlock).
    pub async fn leave(&mut self, sql: &str) -> StoreResult<()> {
        self.batch_execute(sql).await.db()?;
        self.entered = self.entered.saturating_sub(1);
        Ok(())
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(open) = self.open.take() {
            if self.pooled && self.entered == 0 {
                self.router.give_back(&self.target, open);
            } else {
                tokio::spawn(open.close());
                if self.pooled {
                    self.router.forget_one(&self.target);
                }
            }
        }
    }
}

fn closed_semaphore<E>(_: E) -> StoreError {
    StoreError::Corrupt("the connection router is shut".into())
}

impl Router {
    /// A router over the configured servers; starts the idle sweeper on the current runtime.
    pub fn new(
        mut servers: HashMap<String, Config>,
        runtime_role: Option<String>,
        limits: RouterLimits,
        transport: Transport,
    ) -> Arc<Self> {
        for config in servers.values_mut() {
            transport.require(config);
        }
        let cap = limits.cap.max(1);
        let router = Arc::new(Self {
            permits: Arc::new(Semaphore::new(cap)),
            checkouts: Arc::new(Semaphore::new(cap)),
            limits,
            servers,
            runtime_role,
            transport,
            pools: Mutex::new(HashMap::new()),
            waiting: AtomicUsize::new(0),
        });
        let weak = Arc::downgrade(&router);
        let period = (router.limits.idle_timeout / 2).max(Duration::from_millis(100));
        tokio::spawn(sweep(weak, period));
        router
    }

    pub fn limits(&self) -> &RouterLimits {
        &self.limits
    }

    /// The connection settings of a configured server.
    pub fn server(&self, name: &str) -> StoreResult<&Config> {
        self.servers
            .get(name)
            .ok_or_else(|| StoreError::Corrupt(format!("no database server named `{name}`")))
    }

    /// The names of the configured servers, sorted.
    pub fn server_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.servers.keys().cloned().collect();
        names.sort();
        names
    }

    /// Open connections now (idle plus in use), for status and benchmarks.
    pub fn open_connections(&self) -> usize {
        self.limits.cap.max(1) - self.permits.available_permits()
    }

    /// The router's connections against its cap, for the hub's metrics.
    pub fn gauges(&self) -> ConnectionGauges {
        ConnectionGauges {
            cap: self.limits.cap.max(1),
            open: self.open_connections(),
            idle: self.lock().values().map(|pool| pool.idle.len()).sum(),
            waiting: self.waiting.load(Ordering::Relaxed),
        }
    }

    /// A pooled connection to `target` for a request (as the runtime role when one is
    /// configured), in arrival order when the database's slots or the cap are all taken.
    pub async fn get(self: &Arc<Self>, target: &Target) -> StoreResult<Conn> {
        self.get_for(target, Use::Request).await
    }

    /// A pooled connection to `target` for `usage`: each use waits for a slot of its own kind.
    pub async fn get_for(self: &Arc<Self>, target: &Target, usage: Use) -> StoreResult<Conn> {
        let slots = {
            let mut pools = self.lock();
            let pool = pools.entry(target.clone()).or_insert_with(|| Pool {
                idle: Vec::new(),
                open: 0,
                slots: Arc::new(Semaphore::new(self.limits.per_database.max(1))),
                streams: Arc::new(Semaphore::new(self.limits.streams_per_database.max(1))),
            });
            match usage {
                Use::Request => pool.slots.clone(),
                Use::Stream => pool.streams.clone(),
            }
        };
        let waiting = Waiting::new(&self.waiting);
        let slot = slots.acquire_owned().await.map_err(closed_semaphore)?;
        let checkout = self.checkout().await?;
        drop(waiting);
        if let Some(open) = self.take_idle(target) {
            return Ok(self.checked_out(target, open, checkout, Some(slot)));
        }
        let permit = self.open_permit().await?;
        if let Some(pool) = self.lock().get_mut(target) {
            pool.open += 1;
        }
        match self.connect(target, permit, true).await {
            Ok(open) => Ok(self.checked_out(target, open, checkout, Some(slot))),
            Err(err) => {
                self.forget_one(target);
                Err(err)
            }
        }
    }

    /// A connection to `target` as the configured user itself (the owner: migrations,
    /// creating and dropping databases), closed when dropped. It counts under the cap too.
    pub async fn owner(self: &Arc<Self>, target: &Target) -> StoreResult<Conn> {
        let checkout = self.checkout().await?;
        let permit = self.open_permit().await?;
        let open = self.connect(target, permit, false).await?;
        Ok(self.checked_out(target, open, checkout, None))
    }

    /// Listens on a notification channel of `target` over a connection of its own, which
    /// holds a checkout and a permit for as long as the receiver lives. The receiver ends
    /// when the connection does (a server restart): listen again.
    pub async fn listen(
        &self,
        target: &Target,
        channel: &str,
    ) -> StoreResult<mpsc::Receiver<Notification>> {
        let checkout = self.checkout().await?;
        let permit = self.open_permit().await?;
        let mut config = self.server(&target.server)?.clone();
        config.dbname(&target.database);
        config.application_name("outpost-hub listener");
        let (tx, rx) = mpsc::channel(256);
        let forward = tx.clone();
        let (client, mut driver) = self
            .transport
            .connect(&config, |mut messages| async move {
                while let Some(Ok(message)) = messages.next().await {
                    if let AsyncMessage::Notification(notification) = message
                        && forward.send(notification).await.is_err()
                    {
                        return;
                    }
                }
            })
            .await?;
        client
            .batch_execute(&format!("LISTEN {}", quote_ident(channel)))
            .await
            .db()?;
        tokio::spawn(async move {
            let ended = tokio::select! {
                () = tx.closed() => false,
                _ = &mut driver => true,
            };
            // Dropping the client closes the connection, which ends the driver.
            drop((tx, client));
            if !ended {
                let _ = driver.await;
            }
            drop((permit, checkout));
        });
        Ok(rx)
    }

    /// One of the cap's checkouts, in arrival order.
    async fn checkout(&self) -> StoreResult<OwnedSemaphorePermit> {
        self.checkouts
            .clone()
            .acquire_owned()
            .await
            .map_err(closed_semaphore)
    }

    /// Closes every idle connection to `target` (before its database is dropped or moved).
    pub async fn close_idle(&self, target: &Target) {
        let idle = {
            let mut pools = self.lock();
            match pools.get_mut(target) {
                Some(pool) => {
                    pool.open -= pool.idle.len();
                    std::mem::take(&mut pool.idle)
                }
                None => Vec::new(),
            }
        };
        for conn in idle {
            conn.open.close().await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Target, Pool>> {
        // A panic while holding this lock leaves only counters behind; keep serving.
        self.pools
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An idle, still open connection of `target`, forgetting broken ones.
    fn take_idle(&self, target: &Target) -> Option<Open> {
        let mut pools = self.lock();
        let pool = pools.get_mut(target)?;
        while let Some(idle) = pool.idle.pop() {
            if !idle.open.client.is_closed() {
                return Some(idle.open);
            }
            // The server ended it (a restart, a dropped database): forget it.
            pool.open -= 1;
        }
        None
    }

    /// A permit to open one more connection: free, or freed by closing the least recently
    /// used idle connection, or (while another request closes the last idle one) awaited.
    async fn open_permit(&self) -> StoreResult<OwnedSemaphorePermit> {
        loop {
            if let Ok(permit) = self.permits.clone().try_acquire_owned() {
                return Ok(permit);
            }
            match self.evict_oldest_idle() {
                Some(victim) => victim.close().await,
                None => {
                    return self
                        .permits
                        .clone()
                        .acquire_owned()
                        .await
                        .map_err(closed_semaphore);
                }
            }
        }
    }

    fn evict_oldest_idle(&self) -> Option<Open> {
        let mut pools = self.lock();
        let victim = pools
            .iter()
            .filter(|(_, p)| !p.idle.is_empty())
            .min_by_key(|(_, p)| p.idle.first().map(|i| i.since))
            .map(|(t, _)| t.clone())?;
        let pool = pools.get_mut(&victim)?;
        let idle = pool.idle.remove(0);
        pool.open -= 1;
        if pool.unused() {
            pools.remove(&victim);
        }
        Some(idle.open)
    }

    fn checked_out(
        self: &Arc<Self>,
        target: &Target,
        open: Open,
        checkout: OwnedSemaphorePermit,
        slot: Option<OwnedSemaphorePermit>,
    ) -> Conn {
        Conn {
            open: Some(open),
            target: target.clone(),
            router: self.clone(),
            pooled: slot.is_some(),
            entered: 0,
            _checkout: checkout,
            _slot: slot,
        }
    }

    async fn connect(
        &self,
        target: &Target,
        permit: OwnedSemaphorePermit,
        as_runtime: bool,
    ) -> StoreResult<Open> {
        let mut config = self.server(&target.server)?.clone();
        config.dbname(&target.database);
        config.application_name("outpost-hub");
        let (client, connection) = self
            .transport
            .connect(&config, |mut messages| async move {
                while let Some(message) = messages.next().await {
                    if let Err(err) = message {
                        tracing::debug!(error = %err, "database connection ended");
                        return;
                    }
                }
            })
            .await?;
        if let Some(role) = self.runtime_role.as_ref().filter(|_| as_runtime) {
            client
                .batch_execute(&format!("SET ROLE {}", quote_ident(role)))
                .await
                .db()?;
        }
        Ok(Open {
            client,
            connection,
            permit,
        })
    }

    fn forget_one(&self, target: &Target) {
        let mut pools = self.lock();
        if let Some(pool) = pools.get_mut(target) {
            pool.open = pool.open.saturating_sub(1);
        }
    }

    fn give_back(&self, target: &Target, open: Open) {
        if open.client.is_closed() {
            tokio::spawn(open.close());
            self.forget_one(target);
            return;
        }
        let mut pools = self.lock();
        match pools.get_mut(target) {
            Some(pool) => pool.idle.push(Idle {
                open,
                since: Instant::now(),
            }),
            // The database's pool was closed while this connection was out (a drop or move).
            None => {
                drop(pools);
                tokio::spawn(open.close());
            }
        }
    }

    /// Idle connections older than the timeout, taken out of their pools.
    fn expired(&self) -> Vec<Open> {
        let deadline = Instant::now()
            .checked_sub(self.limits.idle_timeout)
            .unwrap_or_else(Instant::now);
        let mut pools = self.lock();
        let mut expired = Vec::new();
        pools.retain(|_, pool| {
            let (old, fresh): (Vec<Idle>, Vec<Idle>) =
                pool.idle.drain(..).partition(|i| i.since <= deadline);
            pool.idle = fresh;
            pool.open -= old.len();
            expired.extend(old.into_iter().map(|i| i.open));
            !pool.unused()
        });
        expired
    }
}

async fn sweep(router: Weak<Router>, period: Duration) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(router) = router.upgrade() else {
            return;
        };
        let expired = router.expired();
        drop(router);
        for open in expired {
            open.close().await;
        }
    }
}
