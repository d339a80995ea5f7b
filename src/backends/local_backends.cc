// LocalBackends (backends/local_backends.h): routes a node by its kind's execution mode.
#include "comfyrun/backends/local_backends.h"

namespace comfyrun {

LocalBackends::LocalBackends(int jobs) : in_process_(static_cast<size_t>(jobs > 0 ? jobs : 1)) {}

Backend* LocalBackends::For(const WorkflowNode& /*node*/, const NodeKind& kind, std::string* /*err*/) {
  switch (kind.mode()) {
    case NodeKind::Mode::kAsync:
      return &event_loop_;
    case NodeKind::Mode::kProcess:
      return &processes_;
    case NodeKind::Mode::kBlocking:
      return &in_process_;
  }
  return &in_process_;
}

void LocalBackends::Shutdown() {
  event_loop_.Shutdown();
  in_process_.Shutdown();
  processes_.Shutdown();
}

}  // namespace comfyrun
