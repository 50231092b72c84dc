import ArgumentParser
import Training

/// What a training command does with a folder that already holds a run; every training command takes
/// this group (`@OptionGroup var start: StartOptions`) and passes `mode` to `Trainer.run`.
struct StartOptions: ParsableArguments {
    @Flag(help: "Continue the run in the output folder from its newest checkpoint.") var resume = false
    @Flag(help: "Delete the run in the output folder (run.h5, checkpoints/) and start a new one.") var overwrite = false

    func validate() throws {
        guard !(resume && overwrite) else {
            throw ValidationError("--resume and --overwrite exclude each other: continue the run or replace it")
        }
    }

    var mode: StartMode { resume ? .resume : overwrite ? .overwrite : .new }
}
