//! `--arch x86_64 | arm64 | all`: the architectures a build asks for, read the same way by
//! `cargo lamina build`/`layer` and by lamina's own `cargo xtask package`/`layer`.

use std::str::FromStr;

use lamina_layer_builder::Architecture;

/// The architectures asked for: one, or `all` of Lambda's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchChoice(pub Vec<Architecture>);

impl FromStr for ArchChoice {
    type Err = String;

    /// `all` is every architecture Lambda runs; any other word is one architecture's name.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "all" => Ok(ArchChoice(Architecture::all())),
            other => Ok(ArchChoice(vec![other.parse()?])),
        }
    }
}

/// [`ArchChoice::from_str`] as a clap `value_parser`.
pub fn parse_arch_choice(value: &str) -> Result<ArchChoice, String> {
    value.parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_every_architecture_and_a_name_is_one() {
        assert_eq!(
            parse_arch_choice("all"),
            Ok(ArchChoice(Architecture::all()))
        );
        assert_eq!(
            parse_arch_choice("arm64"),
            Ok(ArchChoice(vec![Architecture::Arm64]))
        );
        assert_eq!(
            parse_arch_choice("x86_64"),
            Ok(ArchChoice(vec![Architecture::X86_64]))
        );
        assert!(parse_arch_choice("x86").is_err());
    }
}
