//! Registration: descriptors collected with `inventory`, the lists the host reads, and the one-line registration
//! macros. The descriptor types themselves live in [`crate::descriptor`].

pub use crate::descriptor::{EnvVar, PluginDescriptor, StrategyDescriptor};

inventory::collect!(StrategyDescriptor);

inventory::collect!(PluginDescriptor);

/// Every registered strategy, in link order (the host sorts them).
pub fn strategies() -> impl Iterator<Item = &'static StrategyDescriptor> {
    inventory::iter::<StrategyDescriptor>.into_iter()
}

/// Every registered plugin.
pub fn plugins() -> impl Iterator<Item = &'static PluginDescriptor> {
    inventory::iter::<PluginDescriptor>.into_iter()
}

/// Registers a strategy type with the host: `register_strategy!(MyStrategy);`
#[macro_export]
macro_rules! register_strategy {
    ($strategy:ty) => {
        $crate::inventory::submit! {
            $crate::registry::StrategyDescriptor::of::<$strategy>()
                .with_crate(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
        }
    };
}

/// Registers a plugin: `register_plugin!(PluginDescriptor { .. });`
#[macro_export]
macro_rules! register_plugin {
    ($descriptor:expr) => {
        $crate::inventory::submit! { $descriptor }
    };
}
