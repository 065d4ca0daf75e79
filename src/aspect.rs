//! What a dependency is on: object kinds, aspects, attributes, sites and dependencies.

use std::sync::Arc;

use crate::ObjectId;

/// The kind of a watched object. The graph treats every kind alike; the kind is kept
/// so that reasons and the adapters can say what changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A dict: module globals, builtins, a class or instance `__dict__`.
    Dict,
    /// A function object.
    Function,
    /// A code object.
    Code,
    /// A class.
    Type,
    /// A kind the VM defines, numbered as the VM likes.
    Custom(u16),
}

/// One fixed attribute of an object, such as a function's `__code__`.
///
/// Attributes are separate from [`Aspect::Key`] so that a function's `__defaults__` can
/// never collide with a dict key that happens to hash alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Attr {
    /// `__code__`.
    Code,
    /// `__defaults__`.
    Defaults,
    /// `__kwdefaults__`.
    KwDefaults,
    /// `__closure__`.
    Closure,
    /// `__globals__`.
    Globals,
    /// `__annotations__`.
    Annotations,
    /// Instrumentation state (`sys.monitoring`-style changes to a code object).
    Instrumentation,
    /// An attribute the VM defines.
    Other(u16),
}

/// The part of an object a dependency or an event is about.
///
/// Matching rules, for an event on aspect `e` and a dependency on aspect `d` of the same
/// object:
///
/// | event `e` | hits dependency `d` when |
/// |---|---|
/// | `Whole` | always |
/// | `Key(k)` | `d` is `Whole` or `Key(k)` |
/// | `Attr(a)` | `d` is `Whole` or `Attr(a)` |
///
/// A key is the 64-bit hash the VM computes for a dict key or attribute name. Two
/// different keys with the same 64-bit hash share dependents: an event on one then also
/// fires the other's dependents. That is a spurious fire, never a missed one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Aspect {
    /// The whole object.
    Whole,
    /// One dict key or type attribute name, by its 64-bit hash.
    Key(u64),
    /// One fixed attribute.
    Attr(Attr),
}

impl Aspect {
    /// Whether an event on `self` hits a dependency on `dependency` of the same object.
    ///
    /// ```
    /// use depwatch::{Aspect, Attr};
    /// assert!(Aspect::Key(7).hits(Aspect::Whole));
    /// assert!(Aspect::Whole.hits(Aspect::Key(7)));
    /// assert!(!Aspect::Key(7).hits(Aspect::Key(8)));
    /// assert!(!Aspect::Attr(Attr::Code).hits(Aspect::Attr(Attr::Defaults)));
    /// ```
    pub fn hits(self, dependency: Aspect) -> bool {
        self == Aspect::Whole || dependency == Aspect::Whole || self == dependency
    }
}

/// A site tag: a `u32` only the VM interprets, for example a patch-point index.
pub type Site = u32;

/// One dependency of a unit: an object, the aspect of it, and the site that relies on it.
///
/// ```
/// # use depwatch::{Graph, Kind, Dep, Attr};
/// # let mut g: Graph<()> = Graph::new();
/// # let globals = g.track(Kind::Dict, 0);
/// # let f = g.track(Kind::Function, 0);
/// let deps = [
///     Dep::key(globals, 0x1234).named("len").at(3), // the load at patch point 3
///     Dep::attr(f, Attr::Code),                      // site 0
///     Dep::whole(globals),
/// ];
/// # g.register(deps, ()).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dep {
    /// The object depended on.
    pub object: ObjectId,
    /// The aspect of it.
    pub aspect: Aspect,
    /// The site that relies on it. Defaults to 0.
    pub site: Site,
    /// An optional human-readable name for the key, kept for reasons.
    pub name: Option<Arc<str>>,
}

impl Dep {
    /// A dependency on the whole object.
    pub fn whole(object: ObjectId) -> Self {
        Self::new(object, Aspect::Whole)
    }

    /// A dependency on one key, given as the VM's 64-bit hash of it.
    pub fn key(object: ObjectId, hash: u64) -> Self {
        Self::new(object, Aspect::Key(hash))
    }

    /// A dependency on one fixed attribute.
    pub fn attr(object: ObjectId, attr: Attr) -> Self {
        Self::new(object, Aspect::Attr(attr))
    }

    /// A dependency on any aspect.
    pub fn new(object: ObjectId, aspect: Aspect) -> Self {
        Self {
            object,
            aspect,
            site: 0,
            name: None,
        }
    }

    /// Sets the site tag.
    #[must_use]
    pub fn at(mut self, site: Site) -> Self {
        self.site = site;
        self
    }

    /// Names the key, so that reasons can print it.
    #[must_use]
    pub fn named(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// One edge of a unit as it is reported back: object, aspect and site.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dependency {
    /// The object depended on.
    pub object: ObjectId,
    /// The aspect of it.
    pub aspect: Aspect,
    /// The site that relies on it.
    pub site: Site,
}
