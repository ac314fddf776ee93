//! The KCP presets a user names on a command line (`--preset`) or in `kcpq.toml`
//! (`preset = "video"`): shared by `kcpq-server` and `kcpq-bench` (feature `cli`).

use kcpq_core::kcp::KcpConfig;

/// A named [`KcpConfig`] preset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// Low latency (the default).
    #[default]
    Fast,
    /// Large frames at high rates: bigger windows and send buffer.
    Video,
    /// The reference KCP's conservative behaviour, with congestion control.
    Normal,
}

impl Preset {
    /// The KCP settings this preset names.
    pub fn kcp(self) -> KcpConfig {
        match self {
            Preset::Fast => KcpConfig::fast(),
            Preset::Video => KcpConfig::video(),
            Preset::Normal => KcpConfig::normal(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn names_parse_from_the_command_line_and_the_config_file() {
        for (name, preset) in [
            ("fast", Preset::Fast),
            ("video", Preset::Video),
            ("normal", Preset::Normal),
        ] {
            assert_eq!(Preset::from_str(name, false), Ok(preset));
            let parsed: Preset = toml::from_str::<toml::Value>(&format!("p = \"{name}\""))
                .and_then(|table| table["p"].clone().try_into())
                .expect("a preset name in TOML");
            assert_eq!(parsed, preset);
        }
        assert_eq!(Preset::default().kcp(), KcpConfig::fast());
        assert_eq!(Preset::Video.kcp(), KcpConfig::video());
        assert_eq!(Preset::Normal.kcp(), KcpConfig::normal());
    }
}
