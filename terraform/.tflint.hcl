# tflint for the ec2ha module. Only the terraform ruleset bundled in the
# tflint binary is used, so linting needs no plugin download (`tflint --init`
# is never needed); the AWS ruleset would have to be fetched.
config {
  call_module_type = "none"
}

plugin "terraform" {
  enabled = true
  preset  = "recommended"
}

rule "terraform_documented_variables" {
  enabled = true
}

rule "terraform_documented_outputs" {
  enabled = true
}

rule "terraform_standard_module_structure" {
  enabled = true
}

rule "terraform_typed_variables" {
  enabled = true
}
