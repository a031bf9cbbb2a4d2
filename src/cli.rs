//! The command line: parse, dispatch, map errors to exit codes. Commands live in submodules.

pub mod args;
pub mod check;
pub mod classic;
pub mod io;
pub mod keygen;
pub mod rendered;
pub mod secrets;
pub mod sign;
pub mod treepath;
pub mod trust_root;
pub mod verify;
pub mod verify_blob;
pub mod verify_images;

use clap::{CommandFactory, Parser};

use args::{CheckCommand, Cli, Command};

/// Runs sigil with the process arguments and returns the exit code.
pub fn run() -> i32 {
    // sops's classic spelling (`sigil -d FILE`, `sigil -e -i FILE`, ...) becomes a subcommand.
    let subcommands: Vec<String> = Cli::command()
        .get_subcommands()
        .flat_map(|c| {
            std::iter::once(c.get_name().to_string()).chain(c.get_all_aliases().map(str::to_string))
        })
        .chain(std::iter::once("help".to_string()))
        .collect();
    let argv = match classic::rewrite(std::env::args_os().collect(), &subcommands) {
        Ok(argv) => argv,
        Err(e) => {
            eprintln!("sigil: error: {e}");
            return e.exit_code();
        }
    };
    let cli = Cli::parse_from(argv);
    let config = cli.config.as_deref();
    let result = match &cli.command {
        Command::Encrypt {
            file,
            read,
            keys,
            out,
        } => secrets::encrypt(config, file.as_deref(), read, keys, out).map(|_| 0),
        Command::Decrypt {
            file,
            read,
            out,
            extract,
            ignore_mac,
        } => secrets::decrypt(
            config,
            file.as_deref(),
            read,
            out,
            extract.as_deref(),
            *ignore_mac,
        )
        .map(|_| 0),
        Command::Edit {
            file,
            read,
            keys,
            ignore_mac,
        } => secrets::edit(config, file, read, keys, *ignore_mac).map(|_| 0),
        Command::Rotate {
            file,
            read,
            out,
            add_age,
            rm_age,
            add_pgp,
            rm_pgp,
            add_kms,
            rm_kms,
            add_hc_vault_transit,
            rm_hc_vault_transit,
            encryption_context,
            aws_profile,
            ignore_mac,
        } => secrets::rotate(
            config,
            file,
            read,
            out,
            &secrets::KeyChanges {
                add_age,
                rm_age,
                add_pgp,
                rm_pgp,
                add_kms,
                rm_kms,
                add_vault: add_hc_vault_transit,
                rm_vault: rm_hc_vault_transit,
                encryption_context,
                aws_profile,
            },
            *ignore_mac,
        )
        .map(|_| 0),
        Command::Updatekeys { file, read, yes } => {
            secrets::updatekeys(config, file, read, *yes).map(|_| 0)
        }
        Command::Set {
            file,
            path,
            value,
            value_file,
            value_stdin,
            idempotent,
            read,
            ignore_mac,
        } => secrets::set(
            config,
            &secrets::SetArgs {
                file: file.as_deref(),
                path: path.as_deref(),
                value: value.as_deref(),
                value_file: *value_file,
                value_stdin: *value_stdin,
                idempotent: *idempotent,
                ignore_mac: *ignore_mac,
            },
            read,
        )
        .map(|_| 0),
        Command::Unset {
            file,
            path,
            idempotent,
            read,
            ignore_mac,
        } => secrets::unset(
            config,
            file.as_deref(),
            path.as_deref(),
            *idempotent,
            read,
            *ignore_mac,
        )
        .map(|_| 0),
        Command::ExecEnv {
            file,
            command,
            pristine,
            read,
        } => secrets::exec_env(config, file, command, *pristine, read),
        Command::ExecFile {
            file,
            command,
            no_fifo,
            filename,
            read,
        } => secrets::exec_file(config, file, command, *no_fifo, filename.as_deref(), read),
        Command::Filestatus { file, read } => secrets::filestatus(file, read).map(|_| 0),
        Command::Keygen {
            cosign: true,
            output_key_prefix,
            ..
        } => return keygen::cosign(output_key_prefix.as_deref()),
        Command::Keygen { output, .. } => secrets::keygen(output.as_deref()).map(|_| 0),
        Command::Check {
            what:
                CheckCommand::Secrets {
                    paths,
                    age_key_file,
                    render,
                },
        } => check::secrets(
            config,
            paths,
            &render.choice("directory", true),
            age_key_file.as_deref(),
        ),
        Command::Verify { what } => return verify::run(what),
        Command::Sign { what } => return sign::run(what),
        Command::TrustRoot { what } => return trust_root::run(what),
        Command::Gate { config, once } => return crate::gate::run::run(config, *once),
        Command::Render {
            policy,
            revision,
            refname,
            path,
            age_key_file,
            aws_kms,
            vault_transit,
            decrypt,
            no_images,
            recurse,
            render,
        } => {
            let substitute = match render.variables() {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("sigil render: {e}");
                    return 2;
                }
            };
            return crate::gate::render::run(&crate::gate::render::RenderArgs {
                policy,
                revision: revision.as_deref(),
                refname: refname.as_deref(),
                path: path.as_deref(),
                age_key_file: age_key_file.as_deref(),
                aws_kms: *aws_kms,
                vault_transit: *vault_transit,
                decrypt: *decrypt,
                images: !no_images,
                choice: render.choice("auto", *recurse),
                substitute,
            });
        }
        Command::Completion { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "sigil", &mut std::io::stdout());
            Ok(0)
        }
        Command::Man => {
            let mut out = Vec::new();
            match clap_mangen::Man::new(Cli::command()).render(&mut out) {
                Ok(()) => io::emit(None, &out, io::Mode::Public).map(|_| 0),
                Err(e) => Err(crate::sops::Error::Write(e.to_string())),
            }
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sigil: error: {e}");
            e.exit_code()
        }
    }
}
