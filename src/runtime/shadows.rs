//! Shadow parameter sets inside the processing task: each runs as a pipeline variant on the same events as the
//! live strategies, its signals are scored and shown tagged as shadow, and none is ever published.

use std::collections::HashMap;
use std::sync::Arc;

use strategy_sdk::ParamsUpdate;

pub use crate::config::updates::{ShadowCommand, ShadowRun};
use crate::host_params::HostParams;
use crate::runtime::pipeline::{Pipeline, VariantId};

/// A running shadow as the processing task knows it.
#[derive(Debug, Clone)]
pub struct RunningShadow {
    /// Strategy id.
    pub strategy: &'static str,
    /// Shadow name.
    pub name: Arc<str>,
    /// Host-level parameters applied to its signals.
    pub host: HostParams,
    symbols: Option<Vec<String>>,
}

/// The shadows running in one pipeline, by variant id.
#[derive(Debug, Default)]
pub struct ShadowSet {
    running: HashMap<VariantId, RunningShadow>,
    next: VariantId,
}

impl ShadowSet {
    /// Applies a command to `pipeline`. Returns the shadow that stopped, if one did.
    pub fn apply(
        &mut self,
        pipeline: &mut Pipeline,
        command: ShadowCommand,
    ) -> Option<RunningShadow> {
        match command {
            ShadowCommand::Run(run) => {
                self.run(pipeline, run);
                None
            }
            ShadowCommand::Stop { strategy, name } => {
                let id = self.find(&strategy, &name)?;
                pipeline.remove_variant(id);
                self.running.remove(&id)
            }
        }
    }

    fn run(&mut self, pipeline: &mut Pipeline, run: ShadowRun) {
        if let Some(id) = self.find(run.descriptor.id, &run.name) {
            let same_symbols = self
                .running
                .get(&id)
                .is_some_and(|r| r.symbols == run.symbols);
            if same_symbols {
                if let Some(runner) = pipeline.variant_runner_mut(id) {
                    if runner.apply(ParamsUpdate::Global(run.params.0.clone())) {
                        if let Some(r) = self.running.get_mut(&id) {
                            r.host = run.host;
                        }
                        return;
                    }
                }
            }
            pipeline.remove_variant(id);
            self.running.remove(&id);
        }
        let mut runner = (run.descriptor.build)(run.descriptor);
        if !runner.apply(ParamsUpdate::Global(run.params.0)) {
            tracing::error!(strategy = run.descriptor.id, shadow = %run.name, "shadow parameters rejected by the runner");
            return;
        }
        let id = self.allocate();
        pipeline.add_variant_for(id, runner, run.symbols.clone());
        self.running.insert(
            id,
            RunningShadow {
                strategy: run.descriptor.id,
                name: run.name,
                host: run.host,
                symbols: run.symbols,
            },
        );
    }

    fn find(&self, strategy: &str, name: &str) -> Option<VariantId> {
        self.running
            .iter()
            .find(|(_, r)| r.strategy == strategy && &*r.name == name)
            .map(|(id, _)| *id)
    }

    fn allocate(&mut self) -> VariantId {
        while self.running.contains_key(&self.next) {
            self.next = self.next.wrapping_add(1);
        }
        let id = self.next;
        self.next = self.next.wrapping_add(1);
        id
    }

    /// The shadow running as `variant`.
    pub fn get(&self, variant: VariantId) -> Option<&RunningShadow> {
        self.running.get(&variant)
    }

    /// Number of running shadows.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    /// Whether none runs.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }
}
