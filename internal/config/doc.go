// Package config owns ec2ha's configuration file: its schema and defaults,
// loading through viper (file, then EC2HA_ environment variables, then
// flags, each overriding the one before), and validation that reports every
// problem at once, each naming the key, the bad value and the fix.
//
// The configuration holds no secrets: the gossip key and the API token live
// in their own files (mode 0600) that the configuration names by path.
package config
