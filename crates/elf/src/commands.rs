//! Which commands the target image has on `PATH`, so a local run can hide the others.

const AL2023_MINIMAL_COMMANDS: &str = include_str!("../data/al2023-minimal-commands.txt");

/// The command names Lambda's `provided.al2023` image (the Amazon Linux 2023 minimal
/// container image) has in its `PATH` directories, from
/// `crates/elf/data/al2023-minimal-commands.txt` (its header names the sources and what
/// could not be verified). There is no `python3`, `perl`, `ruby`, `node`, `java` or `php`
/// among them: a function that needs one must bring it in a layer.
pub fn al2023_commands() -> impl Iterator<Item = &'static str> + Clone {
    AL2023_MINIMAL_COMMANDS
        .lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|name| !name.is_empty())
}

/// Whether `name` (a bare command name, e.g. `curl`) is on `PATH` in `provided.al2023`.
pub fn al2023_has_command(name: &str) -> bool {
    al2023_commands().any(|known| known == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_has_the_shell_tools_and_no_interpreter() {
        for present in [
            "bash", "sh", "curl", "cat", "env", "grep", "awk", "sed", "[",
        ] {
            assert!(al2023_has_command(present), "{present} must be listed");
        }
        for absent in [
            "python3", "python", "perl", "ruby", "node", "java", "php", "find", "xargs", "tar",
            "gzip", "unzip", "which",
        ] {
            assert!(!al2023_has_command(absent), "{absent} must not be listed");
        }
    }

    #[test]
    fn every_name_is_a_plain_file_name_listed_once() {
        let mut seen = std::collections::BTreeSet::new();
        for name in al2023_commands() {
            // The emulator writes these into mount tables and paths: no separators, no
            // whitespace, no escapes.
            assert!(
                !name.contains(['/', '\\', ' ', '\t']) && name != "." && name != "..",
                "{name:?} is not a plain command name"
            );
            assert!(seen.insert(name), "{name} is listed twice");
        }
        assert!(seen.len() > 100, "only {} commands", seen.len());
    }
}
