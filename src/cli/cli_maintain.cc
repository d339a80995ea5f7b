// The commands that look after the output directory and the shell: gc, cache, completion.
// What they do is in cmd_gc.cc, cmd_cache.cc and cmd_completion.cc.
#include "comfyrun/cli/cli.h"
#include "comfyrun/cli/commands.h"
#include "comfyrun/export/completion.h"
#include "command_registry.h"

namespace comfyrun {

void AddGcCommand(CommandRegistry& registry) {
  auto gc = registry.Options<GcCommandOptions>();
  CLI::App* gc_cmd = registry.Add(
      "gc", "remove old finished runs (runs/, journals/, metrics/) from the output directory; never a live run",
      [gc] { return GcCommand(*gc); });
  gc_cmd->add_option("--older-than", gc->older_than, "age of the run's last journal record: 7d, 12h, 30m")
      ->required()
      ->type_name("AGE");
  gc_cmd->add_option("-o,--out", gc->out_dir, "output directory")
      ->capture_default_str()
      ->type_name("DIR")
      ->check(NonEmptyPath());
  gc_cmd->add_flag("--dry-run", gc->dry_run, "only print what would be removed");
  gc_cmd->add_flag("--force", gc->force, "also remove unfinished runs (no run_finished record), never live ones");
  gc_cmd->add_flag("--json", gc->json, "print the report as JSON");
  registry.Manual(
      gc_cmd, {"Removes old runs from the output directory: a run's journal, lock, runs/<runId>/ folder and metrics "
               "file, when its last journal record is older than --older-than. A live run (its journal is locked) "
               "is never removed; an unfinished run (which resume could continue) only with --force. A/B results "
               "and the cache are not touched.",
               {{"0", "done"}, {"1", "a run could not be removed"}, {"2", "bad --older-than or output directory"}},
               {{"comfyrun gc --older-than 7d --dry-run", "what would go"},
                {"comfyrun gc --older-than 30d -o /data/comfyrun", "remove runs idle for 30 days"}},
               "docs/cron.md, comfyrun cache prune"});
}

void AddCompletionCommand(CommandRegistry& registry) {
  auto completion = registry.Options<CompletionOptions>();
  const CLI::App* app = &registry.app();
  CLI::App* completion_cmd =
      registry.Add("completion", "print the shell completion script (bash or zsh)",
                   [completion, app] { return CompletionCommand(*completion, DescribeApp(*app)); });
  completion_cmd->add_option("shell", completion->shell, "bash or zsh")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh"}));
  registry.Manual(completion_cmd,
                  {"Prints a completion script for bash or zsh, generated from this binary's own command line.",
                   {{"0", "printed"}, {"2", "unknown shell"}},
                   {{"source <(comfyrun completion bash)", "completion in the current bash"},
                    {"comfyrun completion zsh > ~/.zfunc/_comfyrun", "install for zsh (with ~/.zfunc in fpath)"}},
                   ""});
}

void AddCacheCommand(CommandRegistry& registry) {
  auto cache = registry.Options<CacheCommandOptions>();
  CLI::App* cache_cmd = registry.Add("cache", "list or prune the output cache (<out>/cache; docs/cache.md)", nullptr);
  cache_cmd->require_subcommand(1);
  CLI::App* cache_ls_cmd = registry.Add(
      "ls", "list cache entries, most recently used first", [cache] { return CacheLsCommand(*cache); }, cache_cmd);
  cache_ls_cmd->add_option("-o,--out", cache->out_dir, "output directory")
      ->capture_default_str()
      ->type_name("DIR")
      ->check(NonEmptyPath());
  cache_ls_cmd->add_flag("--json", cache->json, "print the entries as JSON");
  CLI::App* cache_prune_cmd = registry.Add(
      "prune", "remove cache entries not used for a while", [cache] { return CachePruneCommand(*cache); }, cache_cmd);
  cache_prune_cmd->add_option("--older-than", cache->older_than, "time since last use: 30d, 12h, 0 (everything)")
      ->required()
      ->type_name("AGE");
  cache_prune_cmd->add_option("-o,--out", cache->out_dir, "output directory")
      ->capture_default_str()
      ->type_name("DIR")
      ->check(NonEmptyPath());
  cache_prune_cmd->add_flag("--dry-run", cache->dry_run, "only print what would be removed");
  cache_prune_cmd->add_flag("--json", cache->json, "print the report as JSON");
  registry.Manual(
      cache_cmd,
      {"The output cache (<out>/cache) keeps the outputs of nodes run with --cache, so that a later run with "
       "the same inputs reuses them instead of paying again. `cache ls` lists the entries; `cache prune` "
       "removes those not used for a while.",
       {{"0", "done"}, CommandRegistry::ExitBadInput()},
       {{"comfyrun cache ls", "list the entries"},
        {"comfyrun cache prune --older-than 30d", "remove entries not used for 30 days"}},
       "docs/cache.md"});
  registry.Manual(cache_ls_cmd,
                  {"Lists the cache entries, most recently used first: key, node type, model, files, size, what the "
                   "result cost and when it was last used. Unusable entries are listed with the reason.",
                   {{"0", "listed"}, CommandRegistry::ExitBadInput()},
                   {{"comfyrun cache ls -o /data/comfyrun --json | jq length", "how many entries"}},
                   "comfyrun cache prune, docs/cache.md"});
  registry.Manual(cache_prune_cmd,
                  {"Removes cache entries not used for --older-than; 0 removes everything.",
                   {{"0", "done"}, {"1", "an entry could not be removed"}, CommandRegistry::ExitBadInput()},
                   {{"comfyrun cache prune --older-than 30d --dry-run", "what would go"}},
                   "comfyrun cache ls, docs/cache.md"});
}

}  // namespace comfyrun
