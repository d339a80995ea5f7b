#pragma once
// Resources that the attempts of one run share and that live as long as the backend that
// lends them: a ComfyUI server pool (its WebSocket connections, its queue counts). The kind
// that needs one makes it on first use; the backend stops and destroys them all when the run
// ends. The engine knows them only through this interface.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace comfyrun {

class SharedResource {
 public:
  virtual ~SharedResource() = default;
  /// Stops threads of the resource's own that post to the event loop, before the loop stops.
  virtual void StopBeforeLoop() {}
};

class SharedResources {
 public:
  using Factory = std::function<std::unique_ptr<SharedResource>(std::string* err)>;

  /// The resource under `key`, made by `make` on first use; null with *err when `make` failed
  /// (it is asked again next time). Thread-safe.
  SharedResource* Get(const std::string& key, const Factory& make, std::string* err) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = resources_.find(key);
    if (it != resources_.end()) return it->second.get();
    std::unique_ptr<SharedResource> made = make(err);
    if (!made) return nullptr;
    return resources_.emplace(key, std::move(made)).first->second.get();
  }
  template <class T>
  T* Get(const std::string& key, const Factory& make, std::string* err) {
    return static_cast<T*>(Get(key, make, err));
  }

  void StopAll() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [key, resource] : resources_) resource->StopBeforeLoop();
  }
  void Clear() {
    std::map<std::string, std::unique_ptr<SharedResource>> gone;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      gone.swap(resources_);
    }
  }

 private:
  std::mutex mutex_;  // guards resources_
  std::map<std::string, std::unique_ptr<SharedResource>> resources_;
};

}  // namespace comfyrun
