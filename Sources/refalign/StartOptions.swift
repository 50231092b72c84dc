import ArgumentParser
import Training

/// What a training command does with a folder that already holds a run; every training command takes
/// this group (`@OptionGroup var start: StartOptions`) and passes `mode` to `Trainer.run`.
struct StartOptions: ParsableArguments {
    @Flag(help: "Continue the run in the output folder from its newest checkpoint.") var resume = false
    @Flag(help: "Delete the run in the output folder (run.h5, checkpoints/) and start a new one.") var overwrite = false
    @Flag(help: "Skip a finished run of the same resolved configuration, continue an unfinished one, replace one of another configuration (what Scripts/reproduce uses).")
    var reuse = false

    func validate() throws {
        guard [resume, overwrite, reuse].filter({ $0 }).count <= 1 else {
            throw ValidationError("--resume, --overwrite and --reuse exclude each other: continue the run, replace it, or let the configuration decide")
        }
    }

    var mode: StartMode { resume ? .resume : overwrite ? .overwrite : reuse ? .reuse : .new }
}
